package nexpose_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tributary-io/tributary/scanner"
)

// FuzzAssetVulnerabilities feeds any body as an asset's findings page: the client returns a
// classified error or findings that can be stored.
func FuzzAssetVulnerabilities(f *testing.F) {
	f.Add(fixture(f, "asset_vulnerabilities.json"))
	f.Add(fixture(f, "not_found.json"))
	f.Add([]byte(`{"resources":[{"id":"x","status":"vulnerable","results":[{"port":70000}]}],"page":{"totalPages":1}}`))
	f.Add([]byte(`{"resources":[{"id":"x\u0000","since":"yesterday"}],"page":{"totalPages":1}}`))
	f.Add([]byte(`{"resources":[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := routedClient(t, map[string][]byte{
			"/api/3/sites/4/assets":            fixture(t, "site_assets.json"),
			"/api/3/assets/21/vulnerabilities": body,
		})
		err := c.Detections(context.Background(), "4", func(d scanner.Detection) error {
			for _, v := range []string{d.Identity, d.VendorID, d.Protocol, d.Evidence, d.EvidenceHTML, d.VendorStatus} {
				if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
					t.Fatalf("unclean text %q in %+v", v, d)
				}
			}
			if d.Identity == "" || d.Status == "" || d.Type == "" {
				t.Fatalf("incomplete detection %+v", d)
			}
			return nil
		}, &scanner.Notes{})
		if err != nil {
			var se *scanner.Error
			if !errors.As(err, &se) || se.Vendor != "Nexpose" {
				t.Fatalf("unclassified error %T: %v", err, err)
			}
		}
	})
}

// FuzzAssets feeds any body as a page of the console's assets.
func FuzzAssets(f *testing.F) {
	f.Add(fixture(f, "site_assets.json"))
	f.Add([]byte(`{"resources":[{"id":1,"riskScore":-4,"history":[{"type":"SCAN","date":"x"}]}],"page":{"totalPages":1}}`))
	f.Add([]byte(`{"resources":[{"id":2,"ip":"10.0.0.1","hostName":"A.\u0000b"}],"page":{"totalPages":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := routedClient(t, map[string][]byte{"/api/3/assets": body})
		err := c.Assets(context.Background(), scanner.Filter{IPRanges: []string{"0.0.0.0/0", "::/0"}}, func(h scanner.Host) error {
			for _, v := range []string{h.VendorID, h.IP, h.DNS, h.OS, h.Name()} {
				if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
					t.Fatalf("unclean text %q in %+v", v, h)
				}
			}
			if h.RiskScore != nil && *h.RiskScore < 0 {
				t.Fatalf("negative risk score %v", *h.RiskScore)
			}
			return nil
		})
		if err != nil {
			var se *scanner.Error
			if !errors.As(err, &se) || se.Vendor != "Nexpose" {
				t.Fatalf("unclassified error %T: %v", err, err)
			}
		}
	})
}
