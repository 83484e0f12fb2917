//go:build tools

// Package tools keeps the u-root commands of the appliance's emergency
// shell, and mkuimage, resolvable in go.mod (go mod tidy keeps them).
package tools

import (
	_ "github.com/u-root/mkuimage/uimage"
	_ "github.com/u-root/u-root/cmds/core/cat"
	_ "github.com/u-root/u-root/cmds/core/dmesg"
	_ "github.com/u-root/u-root/cmds/core/gosh"
	_ "github.com/u-root/u-root/cmds/core/ls"
	_ "github.com/u-root/u-root/cmds/core/mount"
	_ "github.com/u-root/u-root/cmds/core/shutdown"
	_ "github.com/u-root/u-root/cmds/core/umount"
)
