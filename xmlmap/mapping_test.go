package xmlmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/tributary-io/tributary/valid"
	"github.com/tributary-io/tributary/xmlmap"
)

// assetTargets are the asset fields of the domain model with their limits.
var assetTargets = []xmlmap.Target{
	{Name: "id", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
	{Name: "name", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
	{Name: "host_address", Type: xmlmap.TypeString, MaxLength: 100},
	{Name: "os", Type: xmlmap.TypeString},
	{Name: "relevance", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
	{Name: "criticality", Type: xmlmap.TypeInteger, HasRange: true, Min: 0, Max: 100},
	{Name: "risk", Type: xmlmap.TypeDecimal},
	{Name: "alive", Type: xmlmap.TypeBoolean},
	{Name: "last_scan", Type: xmlmap.TypeDateTime},
}

func str(s string) *string { return &s }

func nexposeMapping() xmlmap.Mapping {
	return xmlmap.Mapping{Record: "/NexposeReport/nodes/node", Fields: []xmlmap.Field{
		{Target: "id", XPath: "@device-id"},
		{Target: "name", XPath: "names/name[1]", Default: str("(unnamed)")},
		{Target: "host_address", XPath: "concat(@address, substring('', 1, 0))"},
		{Target: "os", XPath: "normalize-space(concat(fingerprints/os/@product, ' ', fingerprints/os/@version))"},
		{Target: "relevance", XPath: "@risk-score div 1000", Ranges: []xmlmap.Range{{Min: 0, Max: 2, Value: 1}, {Min: 2.0001, Max: 4, Value: 2},
			{Min: 4.0001, Max: 6, Value: 3}, {Min: 6.0001, Max: 8, Value: 4}, {Min: 8.0001, Max: 1e9, Value: 5}}},
		{Target: "criticality", XPath: "@site-importance", ValueMap: map[string]string{"Normal": "50", "High": "80"}, Default: str("10")},
		{Target: "risk", XPath: "@risk-score"},
		{Target: "alive", XPath: "@status = 'alive'"},
		{Target: "last_scan", XPath: "tests/test[1]/@vulnerable-since", Layout: "20060102T150405000"},
	}}
}

func readAll(t *testing.T, body []byte, c *xmlmap.Compiled) ([]xmlmap.Values, [][]xmlmap.FieldError, error) {
	t.Helper()
	var vals []xmlmap.Values
	var errs [][]xmlmap.FieldError
	_, err := xmlmap.Records(bytes.NewReader(body), c.Path(), xmlmap.ReadOptions{}, func(r *xmlmap.Record) error {
		v, e := c.Evaluate(r, nil)
		vals, errs = append(vals, v), append(errs, e)
		return nil
	})
	return vals, errs, err
}

// A NeXpose export's nodes mapped to asset fields: attributes, the first of several names,
// functions, a value map with a default, range rules on a computed number, a boolean
// expression and a date-time layout; only the records at the path are read.
func TestMapNexposeNodes(t *testing.T) {
	body, err := os.ReadFile("testdata/nexpose_export.xml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := xmlmap.Compile(nexposeMapping(), assetTargets)
	if err != nil {
		t.Fatal(err)
	}
	vals, errs, err := readAll(t, body, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 2 || len(errs[0]) != 0 || len(errs[1]) != 0 {
		t.Fatalf("values %v, errors %v", vals, errs)
	}
	a := vals[0]
	want := xmlmap.Values{"id": "31", "name": "web01.corp.example", "host_address": "10.0.0.5", "os": "Ubuntu Linux 22.04",
		"relevance": int64(5), "criticality": int64(50), "risk": 8123.5, "alive": true,
		"last_scan": time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s = %#v, want %#v", k, a[k], v)
		}
	}
	b := vals[1]
	if b["name"] != "(unnamed)" || b["relevance"] != int64(1) || b["criticality"] != int64(10) || b["os"] != nil {
		t.Fatalf("second node %v", b)
	}
}

// Mapping errors name the path in the mapping, and nothing compiles.
func TestCompileErrors(t *testing.T) {
	m := xmlmap.Mapping{Record: "//node[@x]", Fields: []xmlmap.Field{
		{Target: "colour", XPath: "@c"},
		{Target: "name", XPath: "names/name["},
		{Target: "relevance", XPath: "@r", Type: xmlmap.TypeBoolean},
		{Target: "criticality", XPath: "@c", Ranges: []xmlmap.Range{{Min: 1, Max: 5, Value: 1}, {Min: 4, Max: 9, Value: 2}, {Min: 9, Max: 3}}},
		{Target: "criticality", XPath: "@c2"},
		{Target: "last_scan", XPath: "@t", Default: str("yesterday")},
		{Target: "os", XPath: "@o", Layout: "2006"},
	}}
	_, err := xmlmap.Compile(m, assetTargets)
	var ve *valid.Error
	if !errors.As(err, &ve) {
		t.Fatalf("error %v", err)
	}
	got := map[string]string{}
	for _, f := range ve.Fields {
		got[f.Field] = f.Message
	}
	for field, words := range map[string]string{
		"record": "absolute path", "fields[0].target": "unknown target", "fields[1].xpath": "does not compile",
		"fields[2].type": "cannot fill relevance", "fields[3].ranges[1]": "overlaps ranges[0]", "fields[3].ranges[2]": "above max",
		"fields[4].target": "mapped twice", "fields[5].default": "not a date-time", "fields[6].layout": "datetime fields only",
		"fields": "id is required",
	} {
		if !strings.Contains(got[field], words) {
			t.Errorf("%s: %q, want %q (all: %v)", field, got[field], words, got)
		}
	}
	if _, err := xmlmap.Compile(xmlmap.Mapping{Record: "/a"}, assetTargets); err == nil || !strings.Contains(err.Error(), "fields") {
		t.Fatalf("no fields: %v", err)
	}
}

// Values that cannot be used fail their record with the field and the reason; strings over
// the limit are cut or refused as the field says.
func TestRecordErrors(t *testing.T) {
	m := xmlmap.Mapping{Record: "/r/h", Fields: []xmlmap.Field{
		{Target: "id", XPath: "@id"},
		{Target: "name", XPath: "@name", MaxLength: 5},
		{Target: "host_address", XPath: "@addr", MaxLength: 4, Overflow: "reject"},
		{Target: "criticality", XPath: "@crit"},
		{Target: "relevance", XPath: "@rel", Ranges: []xmlmap.Range{{Min: 1, Max: 10, Value: 3}}},
		{Target: "alive", XPath: "@alive"},
	}}
	c, err := xmlmap.Compile(m, assetTargets)
	if err != nil {
		t.Fatal(err)
	}
	body := `<r><h id="1" name="ÄÖÜäöüß" addr="1.2.3.4" crit="101" rel="11" alive="maybe"/><h name="x" crit="7.5"/><h id="3" name="ok" crit="0"/></r>`
	vals, errs, err := readAll(t, []byte(body), c)
	if err != nil {
		t.Fatal(err)
	}
	msgs := func(i int) string {
		var s []string
		for _, e := range errs[i] {
			s = append(s, e.Target+": "+e.Message)
		}
		return strings.Join(s, "; ")
	}
	for _, w := range []string{"host_address: is 7 characters long, more than 4", "criticality: 101 is out of range (0 to 100)",
		"relevance: 11 is in none of the ranges", `alive: "maybe" is not a boolean`} {
		if !strings.Contains(msgs(0), w) {
			t.Errorf("record 1: %s; want %s", msgs(0), w)
		}
	}
	if vals[0]["name"] != "ÄÖÜäö" {
		t.Errorf("truncated name %q", vals[0]["name"])
	}
	if m := msgs(1); !strings.Contains(m, "id: is required") || !strings.Contains(m, `criticality: "7.5" is not a whole number`) {
		t.Errorf("record 2: %s", m)
	}
	if len(errs[2]) != 0 || vals[2]["criticality"] != int64(0) {
		t.Errorf("record 3: %v %v", vals[2], errs[2])
	}
}

// File problems stop the reading with the record and line; a declared ISO-8859-1 encoding
// is converted; records over the caps are refused.
func TestFileErrors(t *testing.T) {
	c, err := xmlmap.Compile(xmlmap.Mapping{Record: "/r/h", Fields: []xmlmap.Field{{Target: "id", XPath: "@id"}, {Target: "name", XPath: "."}}}, assetTargets)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"truncated":   {"<r>\n<h id='1'>a</h>\n<h id='2'>b", "line"},
		"second root": {"<r><h id='1'>a</h></r><r/>", "second root"},
		"entity":      {`<!DOCTYPE r [<!ENTITY x "boom">]><r><h id="1">&x;</h></r>`, "entity"},
		"empty":       {"", "empty"},
		"not xml":     {"id,name\n1,a\n", ""},
	} {
		_, _, err := readAll(t, []byte(tc.body), c)
		var fe *xmlmap.Error
		if !errors.As(err, &fe) || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = xmlmap.Records(strings.NewReader("<r><h>"+strings.Repeat("<x a='1'/>", 200)+"</h></r>"), c.Path(), xmlmap.ReadOptions{MaxRecordNodes: 100},
		func(*xmlmap.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "record 1") || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("record cap: %v", err)
	}
	latin, err := charmap.ISO8859_1.NewEncoder().String(`<?xml version="1.0" encoding="ISO-8859-1"?><r><h id="1">Müller</h></r>`)
	if err != nil {
		t.Fatal(err)
	}
	vals, errs, err := readAll(t, []byte(latin), c)
	if err != nil || len(errs[0]) != 0 || vals[0]["name"] != "Müller" {
		t.Fatalf("ISO-8859-1: %v %v %v", vals, errs, err)
	}
}

// FuzzRecords feeds any file to the reader and the NeXpose mapping: a classified error or
// records whose values are of their target's type and within its limits; never a panic.
func FuzzRecords(f *testing.F) {
	body, err := os.ReadFile("testdata/nexpose_export.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte(`<NexposeReport><nodes><node device-id="1" risk-score="NaN" status="alive"><names><name>x</name></names></node></nodes></NexposeReport>`))
	f.Add([]byte(`<NexposeReport><nodes><node device-id="1"><tests><test vulnerable-since="2026"/></tests></node><node/></nodes>`))
	c, err := xmlmap.Compile(nexposeMapping(), assetTargets)
	if err != nil {
		f.Fatal(err)
	}
	occ, err := xmlmap.Compile(occurrenceMapping(), occurrenceTargets)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// A hang on one input fails with that input instead of stalling the fuzzer.
		timer := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("no answer within 10s on %q", body)) })
		defer timer.Stop()
		_, err := xmlmap.Records(bytes.NewReader(body), c.Path(), xmlmap.ReadOptions{MaxRecordNodes: 5000}, func(r *xmlmap.Record) error {
			vals, _ := c.Evaluate(r, nil)
			if s, ok := vals["name"].(string); ok && (len([]rune(s)) > 400 || strings.IndexByte(s, 0) >= 0) {
				t.Fatalf("name %q", s)
			}
			if n, ok := vals["relevance"].(int64); ok && (n < 1 || n > 5) {
				t.Fatalf("relevance %d", n)
			}
			if _, ok := vals["id"]; !ok {
				if _, errs := c.Evaluate(r, nil); len(errs) == 0 {
					t.Fatal("a record without the required id has no error")
				}
			}
			return nil
		})
		var fe *xmlmap.Error
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("unclassified error %T %v", err, err)
		}
		// The lookups' first pass over the same bytes.
		tables, err := occ.ReadLookups(bytes.NewReader(body), xmlmap.LookupOptions{MaxEntries: 1000, ReadOptions: xmlmap.ReadOptions{MaxRecordNodes: 5000}})
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("unclassified lookup error %T %v", err, err)
		}
		for name, tab := range tables {
			if len(tab) > 1000 {
				t.Fatalf("lookup %s holds %d entries", name, len(tab))
			}
		}
	})
}

// occurrenceMapping maps a NeXpose export's tests with lookups into the definitions.
func occurrenceMapping() xmlmap.Mapping {
	return xmlmap.Mapping{Record: "/NexposeReport/nodes/node/tests/test",
		Lookups: []xmlmap.Lookup{{Name: "title", Record: "/NexposeReport/VulnerabilityDefinitions/vulnerability", Key: "@id", Value: "@title"}},
		Fields: []xmlmap.Field{{Target: "host", XPath: "../../@address"}, {Target: "vulnerability_id", XPath: "@id"},
			{Target: "title", XPath: "@id", Lookup: "title"}}}
}

// FuzzCompile compiles any expression, record path and layout: an error naming the field, or
// a mapping that evaluates without a panic.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"@a", "names/name[1]", "concat(@a, '-', b)", "substring-before(x, ' ')", "names/name[", "count(//*) div 0",
		"//node()[last()]", "string(number('x'))", "ancestor-or-self::*", "../..", "(((", "'unterminated", "sum(@*)"} {
		f.Add(s, "/r/h")
	}
	f.Fuzz(func(t *testing.T, expr, path string) {
		c, err := xmlmap.Compile(xmlmap.Mapping{Record: path, Fields: []xmlmap.Field{{Target: "id", XPath: "'1'"}, {Target: "name", XPath: expr}}}, assetTargets)
		if err != nil {
			var ve *valid.Error
			if !errors.As(err, &ve) {
				t.Fatalf("unclassified error %T %v", err, err)
			}
			return
		}
		doc := "<r><h a='1' b='x y'><names><name>n</name></names>t</h></r>"
		if len(c.Path()) == 2 && c.Path()[0] == "r" && c.Path()[1] == "h" {
			if _, _, err := readAll(t, []byte(doc), c); err != nil {
				t.Fatal(err)
			}
		}
	})
}

var occurrenceTargets = []xmlmap.Target{
	{Name: "host", Type: xmlmap.TypeString, Required: true, MaxLength: 100},
	{Name: "vulnerability_id", Type: xmlmap.TypeString, Required: true},
	{Name: "title", Type: xmlmap.TypeString, Required: true, MaxLength: 2500},
	{Name: "level", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
	{Name: "status", Type: xmlmap.TypeString},
	{Name: "scanned", Type: xmlmap.TypeDateTime},
}

// Occurrences nested in their host: the host comes from an ancestor's attribute, the title
// and level from the vulnerability definitions after the hosts (a lookup read in a first
// pass), the scan time from the report's scans (another lookup).
func TestLookupsAndAncestors(t *testing.T) {
	body, err := os.ReadFile("testdata/nexpose_export.xml")
	if err != nil {
		t.Fatal(err)
	}
	m := xmlmap.Mapping{Record: "/NexposeReport/nodes/node/tests/test",
		Lookups: []xmlmap.Lookup{
			{Name: "title", Record: "/NexposeReport/VulnerabilityDefinitions/vulnerability", Key: "@id", Value: "@title"},
			{Name: "severity", Record: "/NexposeReport/VulnerabilityDefinitions/vulnerability", Key: "@id", Value: "@severity"},
			{Name: "scan", Record: "/NexposeReport/scans/scan", Key: "@id", Value: "@startTime"},
		},
		Fields: []xmlmap.Field{
			{Target: "host", XPath: "../../@address"},
			{Target: "vulnerability_id", XPath: "@id"},
			{Target: "title", XPath: "@id", Lookup: "title"},
			{Target: "level", XPath: "@id", Lookup: "severity", Ranges: []xmlmap.Range{{Min: 0, Max: 2, Value: 1}, {Min: 3, Max: 4, Value: 2},
				{Min: 5, Max: 6, Value: 3}, {Min: 7, Max: 8, Value: 4}, {Min: 9, Max: 10, Value: 5}}},
			{Target: "status", XPath: "@status"},
			{Target: "scanned", XPath: "@scan-id", Lookup: "scan", Layout: "20060102T150405000"},
		}}
	c, err := xmlmap.Compile(m, occurrenceTargets)
	if err != nil {
		t.Fatal(err)
	}
	if !c.HasLookups() {
		t.Fatal("no lookups")
	}
	tables, err := c.ReadLookups(bytes.NewReader(body), xmlmap.LookupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []xmlmap.Values
	_, err = xmlmap.Records(bytes.NewReader(body), c.Path(), xmlmap.ReadOptions{}, func(r *xmlmap.Record) error {
		v, errs := c.Evaluate(r, tables)
		if len(errs) > 0 {
			return fmt.Errorf("record %d: %v", r.Number, errs)
		}
		got = append(got, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := xmlmap.Values{"host": "10.0.0.5", "vulnerability_id": "ssl-cve-2011-3389-beast", "title": "TLS/SSL Server is enabling the BEAST attack",
		"level": int64(2), "status": "vulnerable-version", "scanned": time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A key the lookup lacks leaves the field empty: a required target fails the record.
	_, err = xmlmap.Records(strings.NewReader(strings.Replace(string(body), `test id="ssl-cve-2011-3389-beast"`, `test id="unknown"`, 1)), c.Path(),
		xmlmap.ReadOptions{}, func(r *xmlmap.Record) error {
			if _, errs := c.Evaluate(r, tables); len(errs) != 1 || errs[0].Target != "title" {
				t.Fatalf("errors %v", errs)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	// Lookups over the caps are refused; an unknown lookup does not compile.
	if _, err := c.ReadLookups(bytes.NewReader(body), xmlmap.LookupOptions{MaxEntries: 1}); err == nil || !strings.Contains(err.Error(), "more than 1 entries") {
		t.Fatalf("cap: %v", err)
	}
	m.Fields[2].Lookup = "glossary"
	if _, err := xmlmap.Compile(m, occurrenceTargets); err == nil || !strings.Contains(err.Error(), `fields[2].lookup`) {
		t.Fatalf("unknown lookup: %v", err)
	}
}

func TestPredicateBeforePathRefused(t *testing.T) {
	targets := []xmlmap.Target{{Name: "v", Type: xmlmap.TypeString}}
	for expr, ok := range map[string]bool{
		"concat(names/name[1], ' ', @address)":     false,
		"concat(@address, ' ', names/name[1])":     true,
		"concat(names/name[1], ' (', 'x', ')')":    true,
		"substring-before(a[@k='v'], '.')":         true,
		"normalize-space(concat(b[2], c))":         false,
		"references/reference[@source='CVE']":      true,
		"concat(a[1], substring(@b, 1, 10 div 2))": false,
		"concat(substring(a, 1, 3), '[x]', 'y')":   true,
		"concat(x[position() = 1], 12, 'literal')": true,
	} {
		_, err := xmlmap.Compile(xmlmap.Mapping{Record: "/r/n", Fields: []xmlmap.Field{{Target: "v", XPath: expr}}}, targets)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok %v", expr, err, ok)
		}
	}
}
