// Package sqlout takes Tributary's data to other databases: it runs user SQL over the
// reporting schema as the read-only reporting role, and writes result sets into tables of a
// target PostgreSQL or MySQL/MariaDB database in one transaction per table, streamed (COPY
// into PostgreSQL, batched multi-row inserts into MySQL), never all in memory.
package sqlout

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"
)

// Column types of a result, the same in every target.
const (
	TypeText        = "text"
	TypeBigint      = "bigint"
	TypeNumeric     = "numeric"
	TypeDouble      = "double"
	TypeBoolean     = "boolean"
	TypeTimestamptz = "timestamptz"
	TypeDate        = "date"
	TypeUUID        = "uuid"
	TypeJSON        = "json"
	TypeBytes       = "bytea"
)

// Column is a result column: its name and type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Target database types.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
)

// MaxIdent is the longest identifier of each database, in bytes.
var MaxIdent = map[string]int{Postgres: 63, MySQL: 64}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,199}$`)

// CheckTableName checks a target table name from configuration: letters, digits and
// underscores, not starting with a digit, at most 200 characters (shortened per database).
func CheckTableName(name string) error {
	if !tableName.MatchString(name) {
		return errors.New("must be letters, digits and underscores, starting with a letter or underscore, at most 200 characters")
	}
	return nil
}

// ShortIdent makes an identifier fit max bytes, deterministically: a longer name keeps its
// beginning (cut on a character boundary) and gets "_" and 8 hex digits of its SHA-256.
func ShortIdent(name string, max int) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	keep := max - 9
	for keep > 0 && !utf8.RuneStart(name[keep]) {
		keep--
	}
	return name[:keep] + "_" + hex.EncodeToString(sum[:4])
}

// ShortColumns shortens the columns' names for a database, and refuses names that become
// equal (or were equal already: a result must name its columns apart).
func ShortColumns(cols []Column, db string) ([]Column, error) {
	out := make([]Column, len(cols))
	seen := map[string]string{}
	for i, c := range cols {
		if c.Name == "" || c.Name == "?column?" {
			return nil, fmt.Errorf("column %d has no name: give it one with AS", i+1)
		}
		n := ShortIdent(c.Name, MaxIdent[db])
		key := lowerASCII(n)
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("columns %q and %q have the same name in %s (names are case-insensitive there, and shortened to %d bytes): rename one with AS",
				prev, c.Name, db, MaxIdent[db])
		}
		seen[key] = c.Name
		out[i] = Column{Name: n, Type: c.Type}
	}
	return out, nil
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// Diff describes how a result's columns differ from the ones a table was written with.
type Diff struct {
	Added, Removed []string
	// Changed are "name: old -> new" type changes.
	Changed []string
}

// Empty says whether nothing changed.
func (d Diff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

func (d Diff) String() string {
	s := ""
	add := func(what string, list []string) {
		if len(list) > 0 {
			if s != "" {
				s += "; "
			}
			s += fmt.Sprintf("%s %v", what, list)
		}
	}
	add("added", d.Added)
	add("removed", d.Removed)
	add("type changed", d.Changed)
	return s
}

// Compare compares the columns a table was written with (prev) with a result's (cur).
func Compare(prev, cur []Column) Diff {
	var d Diff
	old := map[string]string{}
	for _, c := range prev {
		old[c.Name] = c.Type
	}
	now := map[string]bool{}
	for _, c := range cur {
		now[c.Name] = true
		t, ok := old[c.Name]
		switch {
		case !ok:
			d.Added = append(d.Added, c.Name)
		case t != c.Type:
			d.Changed = append(d.Changed, fmt.Sprintf("%s: %s -> %s", c.Name, t, c.Type))
		}
	}
	for _, c := range prev {
		if !now[c.Name] {
			d.Removed = append(d.Removed, c.Name)
		}
	}
	return d
}
