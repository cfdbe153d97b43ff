package qualys_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/qualys"
)

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func client(t *testing.T, sim *qualyssim.Server, sl *sleeps, limit int) *qualys.Client {
	t.Helper()
	c, err := qualys.New(qualys.Options{BaseURL: sim.URL, Username: "sim", Password: "sim-password", TruncationLimit: limit, Sleep: sl.sleep})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Truncated lists are followed through WARNING/URL page by page; the rate-limit headers of
// one answer delay the next call.
func TestDetectionsFollowTruncationAndRateHeaders(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 2, AssetGroups: 1, HostsPerGroup: 10, DetectionsPerHost: 2})
	defer sim.Close()
	var sl sleeps
	c := client(t, sim, &sl, 3)
	sim.Faults.Add(simfault.Fault{Path: qualys.PathDetections, After: 1, WaitSeconds: 4})
	seen := map[string]bool{}
	err := c.Detections(context.Background(), "1", func(d scanner.Detection) error {
		if seen[d.Identity] {
			t.Fatalf("detection %s twice", d.Identity)
		}
		seen[d.Identity] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 20 {
		t.Fatalf("%d detections, want 20", len(seen))
	}
	pages := 0
	for _, r := range sim.Faults.Requests() {
		if strings.HasPrefix(r, qualys.PathDetections) {
			pages++
		}
	}
	if pages != 4 {
		t.Fatalf("%d pages for 10 hosts at 3 per page, want 4", pages)
	}
	if len(sl.d) != 1 || sl.d[0] < 3*time.Second || sl.d[0] > 4*time.Second {
		t.Fatalf("waits = %v, want one of about 4s after X-RateLimit-Remaining: 0", sl.d)
	}
}

// A WARNING/URL that points at another server is refused: the credentials stay home.
func TestWarningURLToAnotherServerIsRefused(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{})
	defer sim.Close()
	var sl sleeps
	c := client(t, sim, &sl, 0)
	sim.Faults.Add(simfault.Fault{Path: qualys.PathAssetGroups, Body: `<ASSET_GROUP_LIST_OUTPUT><RESPONSE><DATETIME>2026-11-25T10:00:00Z</DATETIME>
<ASSET_GROUP_LIST><ASSET_GROUP><ID>1</ID><TITLE>One</TITLE></ASSET_GROUP></ASSET_GROUP_LIST>
<WARNING><CODE>1980</CODE><TEXT>1 record limit exceeded.</TEXT><URL><![CDATA[https://evil.example/api/2.0/fo/asset/group/?action=list&id_min=2]]></URL></WARNING>
</RESPONSE></ASSET_GROUP_LIST_OUTPUT>`})
	err := c.AssetGroups(context.Background(), func(scanner.Product) error { return nil })
	if scanner.KindOf(err) != scanner.KindBadResponse || !strings.Contains(err.Error(), "not on the configured server") {
		t.Fatalf("err = %v", err)
	}
}

func TestSeverityScale(t *testing.T) {
	for level, want := range map[string]string{"5": "Critical", "4": "High", "3": "Medium", "2": "Low", "1": "Info"} {
		if got, ok := qualys.Severity(level); !ok || got != want {
			t.Errorf("Severity(%s) = %s, %v", level, got, ok)
		}
	}
	for _, bad := range []string{"0", "6", "", "high"} {
		if _, ok := qualys.Severity(bad); ok {
			t.Errorf("Severity(%q) accepted", bad)
		}
	}
}
