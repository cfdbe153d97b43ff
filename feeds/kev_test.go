package feeds

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseKEV(t *testing.T) {
	f, err := os.Open("testdata/kev.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []KEVEntry
	cat, err := ParseKEV(f, func(e KEVEntry) error { got = append(got, e); return nil })
	if err != nil || cat.CatalogVersion != "2026.11.30" || cat.Count != 3 || len(got) != 3 || cat.DateReleased.IsZero() {
		t.Fatalf("%+v %d %v", cat, len(got), err)
	}
	if got[1].RansomwareUse != "Known" || got[2].CWEs[2] != "CWE-502" || got[0].DueDate != "2026-10-22" {
		t.Errorf("entries: %+v", got)
	}
	doc, _ := os.ReadFile("testdata/kev.json")
	for name, c := range map[string]struct{ doc, want string }{
		"cut":           {string(doc[:len(doc)/2]), "vulnerabilities[1]"},
		"count":         {strings.Replace(string(doc), `"count": 3`, `"count": 4`, 1), "count says 4"},
		"cve":           {strings.Replace(string(doc), "CVE-2026-1001", "CVE-26-1", 1), "vulnerabilities[1].cveID"},
		"date":          {strings.Replace(string(doc), `"2026-11-12"`, `"12/11/2026"`, 1), "vulnerabilities[1].dateAdded"},
		"ransomware":    {strings.Replace(string(doc), `"Known",`, `"Maybe",`, 1), "knownRansomwareCampaignUse"},
		"duplicate":     {strings.Replace(string(doc), "CVE-2026-1001", "CVE-2023-48795", 1), "listed twice"},
		"not an object": {`[1, 2]`, "not a JSON object"},
		"no version":    {`{"vulnerabilities": []}`, "catalogVersion is missing"},
		"empty":         {``, "not a JSON object"},
	} {
		_, err := ParseKEV(strings.NewReader(c.doc), func(KEVEntry) error { return nil })
		if !errors.Is(err, ErrKEV) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// FuzzKEV: any document parses or fails with ErrKEV; parsed entries are checked.
func FuzzKEV(f *testing.F) {
	doc, err := os.ReadFile("testdata/kev.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"catalogVersion":"1","count":0,"vulnerabilities":[]}`))
	f.Add([]byte(`{"catalogVersion":"1","vulnerabilities":[{"cveID":"CVE-2020-1234","dateAdded":"2020-01-01","cwes":null}],"extra":{"a":[1]}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := ParseKEV(strings.NewReader(string(doc)), func(e KEVEntry) error {
			if !cveID.MatchString(e.CVEID) {
				t.Fatalf("an unchecked entry: %+v", e)
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrKEV) {
			t.Fatalf("an error that is not ErrKEV: %v", err)
		}
	})
}
