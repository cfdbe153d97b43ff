package nexpose_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/nexpose"
)

func newClient(t *testing.T, sim *nexposesim.Server, size int) *nexpose.Client {
	t.Helper()
	c, err := nexpose.New(nexpose.Options{BaseURL: sim.URL, Username: "sim", Password: "sim-password", PageSize: size,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Pages are read up to totalPages; a resource listed twice (the list shifted between pages)
// is returned once.
func TestSitesPagesAndDedupes(t *testing.T) {
	sim := nexposesim.New(nexposesim.Options{Sites: 5})
	defer sim.Close()
	c := newClient(t, sim, 2)
	sim.Faults.Add(simfault.Fault{Path: "/api/3/sites", After: 1, Body: `{"resources":[{"id":2,"name":"Site 2"},{"id":3,"name":"Site 3"}],"page":{"number":1,"size":2,"totalResources":5,"totalPages":3}}`})
	var ids []string
	if err := c.Sites(context.Background(), func(p scanner.Product) error { ids = append(ids, p.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "1,2,3,5" {
		t.Fatalf("sites = %v, want 1,2,3,5 (page 2 repeats 2, page 3 holds 5)", ids)
	}
}

// A 404 past the first page ends the list; on the first page it is an error.
func TestNotFoundPastTheEnd(t *testing.T) {
	sim := nexposesim.New(nexposesim.Options{Sites: 4})
	defer sim.Close()
	c := newClient(t, sim, 2)
	sim.Faults.Add(simfault.Fault{Path: "/api/3/sites", After: 1, Status: 404})
	n := 0
	if err := c.Sites(context.Background(), func(scanner.Product) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("sites = %d, %v", n, err)
	}
	err := c.Detections(context.Background(), "99", func(scanner.Detection) error { return nil }, nil)
	if scanner.KindOf(err) != scanner.KindNotFound {
		t.Fatalf("unknown site: %v", err)
	}
}

func TestSeverityScale(t *testing.T) {
	score := func(f float64) *float64 { return &f }
	cases := []struct {
		label string
		score *float64
		want  string
	}{
		{"Critical", score(9.5), "Critical"}, {"Severe", score(7), "High"}, {"Moderate", score(4), "Medium"},
		{"Moderate", score(1), "Low"}, {"Moderate", score(0), "Info"}, {"Severe", nil, "High"}, {"critical", nil, "Critical"},
	}
	for _, c := range cases {
		if got, ok := nexpose.Severity(c.label, c.score); !ok || got != c.want {
			t.Errorf("Severity(%s, %v) = %s, %v; want %s", c.label, c.score, got, ok, c.want)
		}
	}
	if _, ok := nexpose.Severity("Apocalyptic", nil); ok {
		t.Error("unknown label accepted")
	}
	if _, ok := nexpose.Severity("Severe", score(11)); ok {
		t.Error("score 11 accepted")
	}
}

// NUL characters (valid in JSON as \u0000, refused by Postgres) are dropped from vendor text.
func TestNULsAreCleaned(t *testing.T) {
	sim := nexposesim.New(nexposesim.Options{Sites: 1, AssetsPerSite: 1})
	defer sim.Close()
	c := newClient(t, sim, 10)
	sim.Faults.Add(simfault.Fault{Path: "/api/3/assets/", Body: `{"resources":[{"id":"sim-vuln-1\u0000","since":"2026-01-01T00:00:00Z",` +
		`"results":[{"port":22,"protocol":"tc\u0000p","proof":"a\u0000b"}]}],"page":{"number":0,"size":10,"totalResources":1,"totalPages":1}}`})
	var got []scanner.Detection
	if err := c.Detections(context.Background(), "1", func(d scanner.Detection) error { got = append(got, d); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].VendorID != "sim-vuln-1" || got[0].Protocol != "tcp" || got[0].Evidence != "ab" || strings.Contains(got[0].Identity, "\x00") {
		t.Fatalf("detections = %+v", got)
	}
}
