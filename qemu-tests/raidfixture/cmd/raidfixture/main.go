// Command raidfixture builds (or finds in the cache) the RAID fixtures and
// prints where they are.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/coldimage/coldimage/qemu-tests/raidfixture"
)

func main() {
	only := flag.String("cases", "", "comma-separated case names (default: all)")
	flag.Parse()
	cases := raidfixture.Cases
	if *only != "" {
		cases = nil
		for _, c := range raidfixture.Cases {
			if strings.Contains(","+*only+",", ","+c.Name+",") {
				cases = append(cases, c)
			}
		}
	}
	fx, err := raidfixture.Build(context.Background(), raidfixture.Options{Log: log.Printf, Cases: cases})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fx.Dir)
	bad := 0
	for _, c := range cases {
		r := fx.Results[c.Name]
		if r.SHA256 == "" || r.Error != "" {
			bad++
			fmt.Fprintf(os.Stderr, "%s: %s\n", c.Name, r.Error)
		}
	}
	fmt.Printf("%d cases, %d with problems\n", len(cases), bad)
}
