// Go's module version rules (golang.org/x/mod/semver, copied into ./semver
// from the installed toolchain's own vendored copy) answering a differential
// batch: go run . BATCH.json prints {valid, rank, range_valid, satisfies}.
// Go has no range syntax of its own: ranges are not asked.
package main

import (
	"encoding/json"
	"os"
	"sort"

	"differential/semver"
)

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var batch struct {
		Versions []string `json:"versions"`
	}
	if err := json.Unmarshal(data, &batch); err != nil {
		panic(err)
	}
	valid := make([]bool, len(batch.Versions))
	order := []int{}
	for i, v := range batch.Versions {
		valid[i] = semver.IsValid(v)
		if valid[i] {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		return semver.Compare(batch.Versions[order[a]], batch.Versions[order[b]]) < 0
	})
	rank := make([]*int, len(batch.Versions))
	current := 0
	for n, i := range order {
		if n > 0 && semver.Compare(batch.Versions[order[n-1]], batch.Versions[i]) != 0 {
			current++
		}
		r := current
		rank[i] = &r
	}
	out := map[string]interface{}{
		"valid":       valid,
		"rank":        rank,
		"range_valid": []bool{},
		"satisfies":   []bool{},
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
