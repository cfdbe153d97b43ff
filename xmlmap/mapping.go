package xmlmap

import (
	"fmt"
	"io"
	"math"
	"slices"
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
	// MoreRecords are further record paths mapped by the same fields, for files that keep
	// records of one kind in several places (NeXpose tests on the node and on its services;
	// Qualys scan VULNs and PRACTICEs). Records are numbered in file order across all paths.
	// Optional.
	MoreRecords []string `json:"more_records,omitempty" validate:"max=10,dive,required,max=1000"`
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
	// Join, when set, makes a value that selects several nodes their string-values joined by
	// it (every CVE of a definition); otherwise the first node's. Optional.
	Join *string `json:"join,omitempty" validate:"omitempty,max=20"`
	// KeyCase "lower" or "upper" matches keys without regard to case: the table's keys and
	// the keys fields look up are converted. Optional.
	KeyCase string `json:"key_case,omitempty" validate:"omitempty,oneof=lower upper"`
}

// Field maps one XPath expression to a target field.
type Field struct {
	// Target is the field written, such as "name" or "host_address". Required.
	Target string `json:"target" validate:"required,max=100"`
	// XPath is evaluated with the record element as the context node: "@address",
	// "names/name[1]", "normalize-space(description)", "concat(@a, ' ', @b)". A node-set
	// gives the string-value of its first node. Required.
	XPath string `json:"xpath" validate:"required,max=2000"`
	// Join, when set, makes an expression that selects several nodes give their
	// string-values joined by it ("CVE_ID_LIST/CVE_ID/ID" with ","); otherwise the first
	// node's. Optional.
	Join *string `json:"join,omitempty" validate:"omitempty,max=20"`
	// Case "lower" or "upper" converts the value (after a lookup, before the value map).
	// Optional.
	Case string `json:"case,omitempty" validate:"omitempty,oneof=lower upper"`
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
	// OneOf lists the values a string target accepts (after value maps), when not empty.
	OneOf []string
}

// Compiled is a mapping ready to evaluate.
type Compiled struct {
	path    []string
	paths   [][]string
	lookups []compiledLookup
	fields  []compiledField
}

type compiledLookup struct {
	join       *string
	keyCase    string
	name       string
	path       []string
	key, value *xpath.Expr
}

type compiledField struct {
	Field
	target  Target
	expr    *xpath.Expr
	keyCase string // of the field's lookup
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
	c.paths = [][]string{c.path}
	for i, p := range m.MoreRecords {
		steps, err := ParseRecordPath(p)
		if err != nil {
			bad(fmt.Sprintf("more_records[%d]", i), "%v", err)
			continue
		}
		for _, q := range c.paths {
			if samePath(q, steps) {
				bad(fmt.Sprintf("more_records[%d]", i), "repeats a record path")
			}
		}
		c.paths = append(c.paths, steps)
	}
	lookups := map[string]bool{}
	for i, l := range m.Lookups {
		at := fmt.Sprintf("lookups[%d]", i)
		if lookups[l.Name] {
			bad(at+".name", "%q is defined twice", l.Name)
		}
		lookups[l.Name] = true
		cl := compiledLookup{name: l.Name, join: l.Join, keyCase: l.KeyCase}
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
		cf := compiledField{Field: f, target: t, expr: expr}
		for _, l := range c.lookups {
			if l.name == f.Lookup {
				cf.keyCase = l.keyCase
			}
		}
		c.fields = append(c.fields, cf)
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
	if err := checkPredicates(s); err != nil {
		return nil, err
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

// Records streams the file, calling fn for each record at the mapping's record paths,
// numbered in file order across them. It returns how many records it read.
func (c *Compiled) Records(r io.Reader, opts ReadOptions, fn func(*Record) error) (int, error) {
	n := 0
	_, err := RecordsAt(r, c.paths, opts, func(_ int, rec *Record) error {
		n++
		rec.Number = n
		return fn(rec)
	})
	return n, err
}

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
		key, err := evaluate(l.key, nav, nil)
		if err != nil {
			return &Error{Record: rec.Number, Line: rec.Line, Msg: fmt.Sprintf("lookup %s: key %v", l.name, err)}
		}
		key = toCase(strings.TrimSpace(key), l.keyCase)
		if _, dup := t[l.name][key]; dup || key == "" {
			return nil
		}
		value, err := evaluate(l.value, &navigator{root: rec.doc, cur: rec.elem, attr: -1}, l.join)
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
		raw, err := evaluate(f.expr, &navigator{root: rec.doc, cur: rec.elem, attr: -1}, f.Join)
		if err != nil {
			errs = append(errs, FieldError{f.Target, fmt.Sprintf("%s: %v", f.XPath, err)})
			continue
		}
		raw = strings.TrimSpace(raw)
		if f.Lookup != "" {
			raw = strings.TrimSpace(tables[f.Lookup][toCase(raw, f.keyCase)])
		}
		raw = toCase(raw, f.Case)
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

func toCase(s, c string) string {
	switch c {
	case "lower":
		return strings.ToLower(s)
	case "upper":
		return strings.ToUpper(s)
	}
	return s
}

// evaluate gives an expression's value as a string: a node-set's first node's string-value,
// or, with join, every node's string-value (trimmed, empty ones left out) joined by it.
func evaluate(e *xpath.Expr, nav *navigator, join *string) (s string, err error) {
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
		if join != nil {
			var b strings.Builder
			for v.MoveNext() {
				t := strings.TrimSpace(v.Current().Value())
				if t == "" {
					continue
				}
				if b.Len() > 0 {
					b.WriteString(*join)
				}
				b.WriteString(t)
			}
			return b.String(), nil
		}
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
	if len(f.target.OneOf) > 0 && !slices.Contains(f.target.OneOf, raw) {
		return nil, fmt.Sprintf("%q is not one of %s (map the file's values with value_map)", show, strings.Join(f.target.OneOf, ", "))
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

// checkPredicates refuses an expression the XPath engine would evaluate wrongly: it moves
// the context node while it filters a step with a predicate ("names/name[1]"), so a later
// argument of the same function call ("concat(names/name[1], ' ', @address)") is read from
// the wrong node. A predicate in the last path argument, or in an expression of its own, is
// fine.
func checkPredicates(expr string) error {
	// Strip string literals, keeping the structure.
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c == '\'' || c == '"' {
			j := strings.IndexByte(expr[i+1:], c)
			if j < 0 {
				return nil // the compiler reports it
			}
			b.WriteString("''")
			i += j + 1
			continue
		}
		b.WriteByte(c)
	}
	return checkCalls(b.String())
}

func checkCalls(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '(' || i == 0 || !isNameByte(s[i-1]) {
			continue
		}
		args, end := splitArgs(s, i+1)
		for k, a := range args {
			if !strings.Contains(a, "[") {
				continue
			}
			for _, later := range args[k+1:] {
				if pathLike(later) {
					return fmt.Errorf("a step with a predicate ([...]) in argument %d of a function is followed by a path in a later argument, "+
						"which this XPath engine reads from the wrong node: drop the predicate (the first node is used anyway), put that path "+
						"last, or map it as a field or lookup of its own", k+1)
				}
			}
		}
		for _, a := range args {
			if err := checkCalls(a); err != nil {
				return err
			}
		}
		i = end
	}
	return nil
}

func isNameByte(c byte) bool {
	return c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// splitArgs splits the arguments of a call whose "(" is at start-1; end is its ")".
func splitArgs(s string, start int) (args []string, end int) {
	depth, from := 0, start
	for i := start; i < len(s); i++ {
		switch s[i] {
		case '(', '[':
			depth++
		case ']':
			depth--
		case ')':
			if depth == 0 {
				return append(args, s[from:i]), i
			}
			depth--
		case ',':
			if depth == 0 {
				args = append(args, s[from:i])
				from = i + 1
			}
		}
	}
	return append(args, s[from:]), len(s)
}

// pathLike says whether an argument (literals stripped) reads nodes.
func pathLike(a string) bool {
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c == '@' || c == '/' || c == '*':
			return true
		case c == '.' && (i+1 >= len(a) || a[i+1] < '0' || a[i+1] > '9'):
			return true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_':
			j := i
			for j < len(a) && (isNameByte(a[j]) || a[j] == ':') {
				j++
			}
			k := j
			for k < len(a) && a[k] == ' ' {
				k++
			}
			word := a[i:j]
			if k < len(a) && a[k] == '(' {
				i = j - 1
				continue // a function name
			}
			if word == "div" || word == "mod" || word == "and" || word == "or" {
				i = j - 1
				continue
			}
			return true
		}
	}
	return false
}
