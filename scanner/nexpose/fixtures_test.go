package nexpose_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/nexpose"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// routedClient answers each path with routes[path], or 404 with Rapid7's error body.
func routedClient(t testing.TB, routes map[string][]byte) *nexpose.Client {
	t.Helper()
	notFound := fixture(t, "not_found.json")
	c, err := nexpose.New(nexpose.Options{BaseURL: "https://console.example:3780", Username: "u", Password: "p", MaxRetries: -1,
		HTTPClient: &http.Client{Transport: simfault.Answers(func(r *http.Request) (int, []byte) {
			if b, ok := routes[r.URL.Path]; ok {
				return 200, b
			}
			return 404, notFound
		})},
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// What real v3 answers hold: finding statuses invulnerable and no-results, result statuses
// with exceptions applied, not-vulnerable and potential, several results on one port told
// apart by key, HTML proofs, assets without ip, the asset's scan history, the asset-specific
// solution, and an asset that vanished between the listing and the reading (404).
func TestSiteFixtureQuirks(t *testing.T) {
	c := routedClient(t, map[string][]byte{
		"/api/3/sites/4/assets":                                             fixture(t, "site_assets.json"),
		"/api/3/assets/21/vulnerabilities":                                  fixture(t, "asset_vulnerabilities.json"),
		"/api/3/assets/21/vulnerabilities/ssl-cve-2011-3389-beast/solution": fixture(t, "asset_solution.json"),
	})
	var notes scanner.Notes
	got := map[string]scanner.Detection{}
	if err := c.Detections(context.Background(), "4", func(d scanner.Detection) error {
		if _, dup := got[d.Identity]; dup {
			t.Fatalf("identity %s twice", d.Identity)
		}
		got[d.Identity] = d
		return nil
	}, &notes); err != nil {
		t.Fatal(err)
	}
	if notes.Total != 1 || !strings.Contains(notes.Items[0], "asset 22 of site 4 was removed") || !strings.Contains(notes.Items[0], "does not exist or access is prohibited") {
		t.Errorf("notes = %+v", notes)
	}
	want := map[string]struct{ status, vendor, typ string }{
		"nexpose:asset=21:vuln=certificate-common-name-mismatch:port=443:proto=tcp":                          {scanner.StatusOpen, "vulnerable/vulnerable", scanner.TypeConfirmed},
		"nexpose:asset=21:vuln=ubuntu-cve-2026-0001:port=-:proto=:key=/usr/lib/x86_64-linux-gnu/libssl.so.3": {scanner.StatusOpen, "vulnerable/vulnerable-version", scanner.TypeConfirmed},
		"nexpose:asset=21:vuln=ubuntu-cve-2026-0001:port=-:proto=:key=/snap/core22/lib/libssl.so.3":          {scanner.StatusOpen, "vulnerable/vulnerable-version", scanner.TypeConfirmed},
		"nexpose:asset=21:vuln=ssh-weak-kex:port=22:proto=tcp":                                               {scanner.StatusRiskAccepted, "vulnerable/vulnerable-with-exception-applied", scanner.TypeConfirmed},
		"nexpose:asset=21:vuln=http-options-method:port=80:proto=tcp":                                        {scanner.StatusOpen, "vulnerable/vulnerable-potential", scanner.TypePotential},
		"nexpose:asset=21:vuln=ssl-cve-2011-3389-beast:port=8443:proto=tcp":                                  {scanner.StatusNotVulnerable, "invulnerable/not-vulnerable", scanner.TypeConfirmed},
		"nexpose:asset=21:vuln=generic-icmp-timestamp:port=-:proto=":                                         {scanner.StatusNotVulnerable, "no-results", scanner.TypeConfirmed},
	}
	if len(got) != len(want) {
		t.Fatalf("detections = %d, want %d: %v", len(got), len(want), got)
	}
	lastScan := time.Date(2026, 11, 28, 21, 40, 2, 117e6, time.UTC)
	for id, w := range want {
		d, ok := got[id]
		if !ok {
			t.Errorf("missing %s", id)
			continue
		}
		if d.Status != w.status || d.VendorStatus != w.vendor || d.Type != w.typ || !d.LastSeen.Equal(lastScan) || d.AssetVendorID != "21" || d.IP != "198.51.100.21" {
			t.Errorf("%s = %+v, want %+v", id, d, w)
		}
		if strings.ContainsAny(d.Evidence, "<>") {
			t.Errorf("%s evidence keeps HTML: %q", id, d.Evidence)
		}
	}
	cn := got["nexpose:asset=21:vuln=certificate-common-name-mismatch:port=443:proto=tcp"]
	if !strings.HasPrefix(cn.Evidence, "The subject common name found in the X.509 certificate does not seem to match the scan target:\n- Subject CN db") ||
		!strings.Contains(cn.EvidenceHTML, "<li>") {
		t.Errorf("evidence = %q / %q", cn.Evidence, cn.EvidenceHTML)
	}
	if kex := got["nexpose:asset=21:vuln=ssh-weak-kex:port=22:proto=tcp"]; kex.Evidence != "Weak key exchange offered & accepted" {
		t.Errorf("evidence = %q", kex.Evidence)
	}
	beast := got["nexpose:asset=21:vuln=ssl-cve-2011-3389-beast:port=8443:proto=tcp"]
	if beast.Solution != "Disable SSLv2, SSLv3, and TLS 1.0\nDisable the affected protocols (SSLv3 and TLS 1.0) on this server." || !strings.Contains(beast.SolutionHTML, "<b>this</b>") {
		t.Errorf("asset-specific solution = %q / %q", beast.Solution, beast.SolutionHTML)
	}
	if pkg := got["nexpose:asset=21:vuln=ubuntu-cve-2026-0001:port=-:proto=:key=/snap/core22/lib/libssl.so.3"]; !pkg.FirstSeen.Equal(time.Date(2026, 9, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("result since = %v", pkg.FirstSeen)
	}
}

// An unknown finding or result status fails with the element named.
func TestUnknownStatuses(t *testing.T) {
	body := string(fixture(t, "asset_vulnerabilities.json"))
	for _, tc := range []struct{ from, to, want string }{
		{`"status": "no-results"`, `"status": "maybe"`, `resources[id=generic-icmp-timestamp].status: unknown status "maybe"`},
		{`"status": "vulnerable-potential"`, `"status": "vulnerable-ish"`, `resources[id=http-options-method].results[0].status: unknown result status "vulnerable-ish"`},
	} {
		c := routedClient(t, map[string][]byte{
			"/api/3/sites/4/assets":            fixture(t, "site_assets.json"),
			"/api/3/assets/21/vulnerabilities": []byte(strings.Replace(body, tc.from, tc.to, 1)),
		})
		err := c.Detections(context.Background(), "4", func(scanner.Detection) error { return nil }, nil)
		if scanner.KindOf(err) != scanner.KindBadResponse || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "vulnerabilities of asset 21, page 1") {
			t.Errorf("%s: %v", tc.to, err)
		}
	}
}
