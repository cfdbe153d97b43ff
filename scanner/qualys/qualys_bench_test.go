package qualys_test

import (
	"context"
	"testing"

	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/qualys"
)

// BenchmarkDetections reads 10,000 detections (1,000 hosts) from the simulator per iteration.
func BenchmarkDetections(b *testing.B) {
	sim := qualyssim.New(qualyssim.Options{Seed: 1, AssetGroups: 1, HostsPerGroup: 1000, DetectionsPerHost: 10})
	defer sim.Close()
	c, err := qualys.New(qualys.Options{BaseURL: sim.URL, Username: "sim", Password: "sim-password"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := c.Detections(context.Background(), "1", func(scanner.Detection) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != 10000 {
			b.Fatalf("%d detections", n)
		}
	}
}
