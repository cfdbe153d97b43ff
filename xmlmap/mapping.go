package xmlmap

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/antchfx/xpath"

	"github.com/tributary-io/tributary/valid"
)

// Value types of a field.
const (
	TypeString   = "string"
	TypeInteger  = "integer"
	TypeDecimal  = "decimal"
	TypeBoolean  = "boolean"
	TypeDateTime = "datetime"
)

// Mapping maps the records of an XML file to target fields.
type Mapping struct {
	// Record is the absolute path of the element that is one record, such as
	// /NexposeReport/nodes/node. Required.
	Record string `json:"record" validate:"required,max=1000"`
	// Lookups are tables of values from elsewhere in the file (a glossary of vulnerability
	// definitions after the hosts, a report header), read in a first pass. Optional.
	Lookups []Lookup `json:"lookups,omitempty" validate:"max=20,dive"`
	// Fields map values to targets. Required; at most one per target.
	Fields []Field `json:"fields" validate:"required,min=1,max=200,dive"`
}

// Lookup is a table from key to value over the elements at an absolute path: a field that
// names the lookup gets the value whose key its expression gives.
type Lookup struct {
	// Name is what fields call the lookup. Required.
	Name string `json:"name" validate:"required,max=100"`
	// Record is the absolute path of the elements holding the entries, such as
	// /NexposeReport/VulnerabilityDefinitions/vulnerability. Required.
	Record string `json:"record" validate:"required,max=1000"`
	// Key and Value are XPath expressions relative to each element ("@id", "@title"); the
	// first entry of a key wins. Required.
	Key   string `json:"key" validate:"required,max=2000"`
	Value string `json:"value" validate:"required,max=2000"`
}

// Field maps one XPath expression to a target field.
type Field struct {
	// Target is the field written, such as "name" or "host_address". Required.
	Target string `json:"target" validate:"required,max=100"`
	// XPath is evaluated with the record element as the context node: "@address",
	// "names/name[1]", "normalize-space(description)", "concat(@a, ' ', @b)". A node-set
	// gives the string-value of its first node. Required.
	XPath string `json:"xpath" validate:"required,max=2000"`
	// Type is string, integer, decimal, boolean or datetime. Optional; defaults to the
	// target's type.
	Type string `json:"type,omitempty" validate:"omitempty,oneof=string integer decimal boolean datetime"`
	// Layout is the Go time layout of a datetime ("2006-01-02 15:04:05"), or "unix" for
	// seconds since 1970. Optional; defaults to RFC 3339 (20060102T150405 and dates also read).
	Layout string `json:"layout,omitempty" validate:"max=100"`
	// Default is used when the expression gives an empty value. Optional.
	Default *string `json:"default,omitempty" validate:"omitempty,max=10000"`
	// Required fails the record when the value is empty and there is no default. Optional;
	// targets that must have a value are required anyway.
	Required bool `json:"required,omitempty"`
	// MaxLength caps a string value in characters. Optional; defaults to the target's limit.
	MaxLength int `json:"max_length,omitempty" validate:"min=0,max=1000000"`
	// Overflow is what a longer value does: "truncate" (default) or "reject" (fails the record).
	Overflow string `json:"overflow,omitempty" validate:"omitempty,oneof=truncate reject"`
	// ValueMap replaces whole values ("Severe" -> "4") before conversion; values it does
	// not name pass unchanged. Optional.
	ValueMap map[string]string `json:"value_map,omitempty" validate:"max=1000"`
	// Lookup names a lookup: the expression gives the key, the field gets the lookup's value
	// for it (empty when the key has none). Optional.
	Lookup string `json:"lookup,omitempty" validate:"max=100"`
	// Ranges map a number to the value of the range holding it (inclusive bounds), such as a
	// 1-10 scale to 1-5: {min 1, max 2, value 1}, {min 3, max 4, value 2}, …. A number in no
	// range fails the record. Optional.
	Ranges []Range `json:"ranges,omitempty" validate:"max=100,dive"`
}

// Range is one numeric range rule.
type Range struct {
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Value float64 `json:"value"`
}

// Target describes a field a task can write and its limits (from the domain model).
type Target struct {
	Name string
	// Type is the target's value type.
	Type string
	// Required targets fail a record without a value.
	Required bool
	// MaxLength caps strings (characters); 0 for none.
	MaxLength int
	// Min and Max bound numbers, when HasRange.
	HasRange bool
	Min, Max float64
}

// Compiled is a mapping ready to evaluate.
type Compiled struct {
	path    []string
	lookups []compiledLookup
	fields  []compiledField
}

type compiledLookup struct {
	name       string
	path       []string
	key, value *xpath.Expr
}

type compiledField struct {
	Field
	target Target
	expr   *xpath.Expr
}

// Compile checks m against the targets a task writes and compiles its expressions. Errors
// are a *valid.Error whose fields are paths in the mapping ("fields[2].xpath").
func Compile(m Mapping, targets []Target) (c *Compiled, err error) {
	if err := valid.Struct("", &m); err != nil {
		return nil, err
	}
	known := map[string]Target{}
	names := make([]string, 0, len(targets))
	for _, t := range targets {
		known[t.Name] = t
		names = append(names, t.Name)
	}
	var fs []valid.FieldError
	bad := func(field, format string, args ...any) {
		fs = append(fs, valid.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c = &Compiled{}
	if c.path, err = ParseRecordPath(m.Record); err != nil {
		bad("record", "%v", err)
	}
	lookups := map[string]bool{}
	for i, l := range m.Lookups {
		at := fmt.Sprintf("lookups[%d]", i)
		if lookups[l.Name] {
			bad(at+".name", "%q is defined twice", l.Name)
		}
		lookups[l.Name] = true
		cl := compiledLookup{name: l.Name}
		var err error
		if cl.path, err = ParseRecordPath(l.Record); err != nil {
			bad(at+".record", "%v", err)
		}
		if cl.key, err = compileXPath(l.Key); err != nil {
			bad(at+".key", "%v", err)
		}
		if cl.value, err = compileXPath(l.Value); err != nil {
			bad(at+".value", "%v", err)
		}
		c.lookups = append(c.lookups, cl)
	}
	seen := map[string]bool{}
	for i, f := range m.Fields {
		at := fmt.Sprintf("fields[%d]", i)
		t, ok := known[f.Target]
		if !ok {
			bad(at+".target", "unknown target %q; known: %s", f.Target, strings.Join(names, ", "))
			continue
		}
		if seen[f.Target] {
			bad(at+".target", "%q is mapped twice", f.Target)
		}
		seen[f.Target] = true
		if f.Type == "" {
			f.Type = t.Type
		}
		if !convertible(f.Type, t.Type) {
			bad(at+".type", "a %s value cannot fill %s, a %s", f.Type, f.Target, t.Type)
		}
		if f.Lookup != "" && !lookups[f.Lookup] {
			bad(at+".lookup", "there is no lookup %q", f.Lookup)
		}
		if f.Layout != "" && f.Type != TypeDateTime {
			bad(at+".layout", "applies to datetime fields only")
		}
		if len(f.Ranges) > 0 && f.Type != TypeInteger && f.Type != TypeDecimal {
			bad(at+".ranges", "apply to integer and decimal fields only")
		}
		for j, r := range f.Ranges {
			if r.Min > r.Max || math.IsNaN(r.Min) || math.IsNaN(r.Max) {
				bad(fmt.Sprintf("%s.ranges[%d]", at, j), "min %v is above max %v", r.Min, r.Max)
			}
			for k := 0; k < j; k++ {
				if o := f.Ranges[k]; r.Min <= o.Max && o.Min <= r.Max {
					bad(fmt.Sprintf("%s.ranges[%d]", at, j), "overlaps ranges[%d]", k)
				}
			}
		}
		if t.MaxLength > 0 && (f.MaxLength == 0 || f.MaxLength > t.MaxLength) {
			f.MaxLength = t.MaxLength
		}
		expr, err := compileXPath(f.XPath)
		if err != nil {
			bad(at+".xpath", "%v", err)
			continue
		}
		if f.Default != nil {
			if _, msg := convert(&compiledField{Field: f, target: t}, *f.Default); msg != "" {
				bad(at+".default", "%s", msg)
			}
		}
		c.fields = append(c.fields, compiledField{Field: f, target: t, expr: expr})
	}
	for _, t := range targets {
		if t.Required && !seen[t.Name] {
			bad("fields", "the target %s is required: map it", t.Name)
		}
	}
	if len(fs) > 0 {
		return nil, valid.Fields(fs...)
	}
	return c, nil
}

// compileXPath compiles an expression; the XPath package's panics on odd input are errors.
func compileXPath(s string) (e *xpath.Expr, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("does not compile: %v", r)
		}
	}()
	e, err = xpath.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("does not compile: %v", err)
	}
	return e, nil
}

// convertible says whether a value of type from can fill a target of type to.
func convertible(from, to string) bool {
	switch to {
	case TypeString:
		return true
	case TypeDecimal:
		return from == TypeDecimal || from == TypeInteger
	}
	return from == to
}

// Path is the record path's local names.
func (c *Compiled) Path() []string { return c.path }

// FieldError is why a record's field has no usable value.
type FieldError struct {
	Target  string `json:"target"`
	Message string `json:"message"`
}

// Values are a record's converted values by target: string, int64, float64, bool or
// time.Time. Targets without a value are absent.
type Values map[string]any

// Tables are the lookups' entries: name -> key -> value.
type Tables map[string]map[string]string

// LookupOptions bounds the lookup tables.
type LookupOptions struct {
	ReadOptions
	// MaxEntries caps the entries of all tables. Optional; defaults to 1,000,000.
	MaxEntries int
	// MaxBytes caps the keys and values of all tables. Optional; defaults to 64 MiB.
	MaxBytes int
}

// HasLookups says whether the mapping needs a first pass over the file (ReadLookups).
func (c *Compiled) HasLookups() bool { return len(c.lookups) > 0 }

// ReadLookups reads the lookup tables in one pass over the file.
func (c *Compiled) ReadLookups(r io.Reader, opts LookupOptions) (Tables, error) {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1_000_000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	t := Tables{}
	paths := make([][]string, len(c.lookups))
	for i, l := range c.lookups {
		paths[i] = l.path
		t[l.name] = map[string]string{}
	}
	entries, size := 0, 0
	_, err := RecordsAt(r, paths, opts.ReadOptions, func(i int, rec *Record) error {
		l := &c.lookups[i]
		nav := &navigator{root: rec.doc, cur: rec.elem, attr: -1}
		key, err := evaluate(l.key, nav)
		if err != nil {
			return &Error{Record: rec.Number, Line: rec.Line, Msg: fmt.Sprintf("lookup %s: key %v", l.name, err)}
		}
		key = strings.TrimSpace(key)
		if _, dup := t[l.name][key]; dup || key == "" {
			return nil
		}
		value, err := evaluate(l.value, &navigator{root: rec.doc, cur: rec.elem, attr: -1})
		if err != nil {
			return &Error{Record: rec.Number, Line: rec.Line, Msg: fmt.Sprintf("lookup %s: value %v", l.name, err)}
		}
		entries, size = entries+1, size+len(key)+len(value)
		if entries > opts.MaxEntries || size > opts.MaxBytes {
			return &Error{Record: rec.Number, Line: rec.Line,
				Msg: fmt.Sprintf("the lookups hold more than %d entries or %d bytes", opts.MaxEntries, opts.MaxBytes)}
		}
		t[l.name][key] = value
		return nil
	})
	return t, err
}

// Evaluate maps one record, with the lookup tables when the mapping has lookups. The errors
// say which fields failed and why; a record with errors must not be stored.
func (c *Compiled) Evaluate(rec *Record, tables Tables) (Values, []FieldError) {
	out := Values{}
	var errs []FieldError
	for i := range c.fields {
		f := &c.fields[i]
		raw, err := evaluate(f.expr, &navigator{root: rec.doc, cur: rec.elem, attr: -1})
		if err != nil {
			errs = append(errs, FieldError{f.Target, fmt.Sprintf("%s: %v", f.XPath, err)})
			continue
		}
		raw = strings.TrimSpace(raw)
		if f.Lookup != "" {
			raw = strings.TrimSpace(tables[f.Lookup][raw])
		}
		if mapped, ok := f.ValueMap[raw]; ok {
			raw = mapped
		}
		if raw == "" && f.Default != nil {
			raw = *f.Default
		}
		if raw == "" {
			if f.Required || f.target.Required {
				errs = append(errs, FieldError{f.Target, fmt.Sprintf("is required, but %s gives no value and there is no default", f.XPath)})
			}
			continue
		}
		v, msg := convert(f, raw)
		if msg != "" {
			errs = append(errs, FieldError{f.Target, msg})
			continue
		}
		out[f.Target] = v
	}
	return out, errs
}

// evaluate gives an expression's value as a string: a node-set's first node's string-value.
func evaluate(e *xpath.Expr, nav *navigator) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = "", fmt.Errorf("cannot be evaluated: %v", r)
		}
	}()
	switch v := e.Evaluate(nav).(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		if math.IsNaN(v) {
			return "", nil
		}
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case *xpath.NodeIterator:
		if v.MoveNext() {
			return v.Current().Value(), nil
		}
		return "", nil
	}
	return "", nil
}

// convert turns a non-empty string into the field's type, applies range rules and limits.
func convert(f *compiledField, raw string) (any, string) {
	show := raw
	if len(show) > 60 {
		show = show[:60] + "…"
	}
	switch f.Type {
	case TypeInteger, TypeDecimal:
		n, err := strconv.ParseFloat(strings.ReplaceAll(raw, ",", ""), 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Sprintf("%q is not a number", show)
		}
		if f.Type == TypeInteger && n != math.Trunc(n) && len(f.Ranges) == 0 {
			return nil, fmt.Sprintf("%q is not a whole number", show)
		}
		if len(f.Ranges) > 0 {
			found := false
			for _, r := range f.Ranges {
				if n >= r.Min && n <= r.Max {
					n, found = r.Value, true
					break
				}
			}
			if !found {
				return nil, fmt.Sprintf("%v is in none of the ranges", n)
			}
		}
		if t := f.target; t.HasRange && (n < t.Min || n > t.Max) {
			return nil, fmt.Sprintf("%v is out of range (%v to %v)", n, t.Min, t.Max)
		}
		if f.target.Type == TypeInteger || f.Type == TypeInteger {
			if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
				return nil, fmt.Sprintf("%v is not a whole number", n)
			}
			return int64(n), ""
		}
		return n, ""
	case TypeBoolean:
		switch strings.ToLower(raw) {
		case "true", "1", "yes", "y":
			return true, ""
		case "false", "0", "no", "n":
			return false, ""
		}
		return nil, fmt.Sprintf("%q is not a boolean (true/false, 1/0, yes/no)", show)
	case TypeDateTime:
		t, err := parseTime(raw, f.Layout)
		if err != nil {
			return nil, fmt.Sprintf("%q is not a date-time%s", show, layoutHint(f.Layout))
		}
		return t, ""
	}
	if !utf8.ValidString(raw) || strings.IndexByte(raw, 0) >= 0 {
		raw = strings.ReplaceAll(strings.ToValidUTF8(raw, ""), "\x00", "")
	}
	if f.MaxLength > 0 && utf8.RuneCountInString(raw) > f.MaxLength {
		if f.Overflow == "reject" {
			return nil, fmt.Sprintf("is %d characters long, more than %d", utf8.RuneCountInString(raw), f.MaxLength)
		}
		raw = string([]rune(raw)[:f.MaxLength])
	}
	return raw, ""
}

func layoutHint(layout string) string {
	if layout == "" {
		return " such as 2026-11-25T10:00:00Z"
	}
	return " in the layout " + layout
}

func parseTime(s, layout string) (time.Time, error) {
	switch layout {
	case "unix":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		return time.Unix(n, 0).UTC(), nil
	case "":
		for _, l := range []string{time.RFC3339, "20060102T150405", "20060102T150405000", "2006-01-02"} {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("unknown layout")
	}
	t, err := time.Parse(layout, s)
	return t.UTC(), err
}
