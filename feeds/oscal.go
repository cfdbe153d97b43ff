package feeds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// ErrOSCAL is wrapped by every problem of an OSCAL catalog.
var ErrOSCAL = errors.New("not a valid OSCAL catalog")

func oscalError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrOSCAL, fmt.Sprintf(format, args...))
}

// OSCALCatalog is a catalog's metadata.
type OSCALCatalog struct {
	UUID         string
	Title        string
	Version      string
	OSCALVersion string
	LastModified time.Time
	// Groups and Controls count what was read (enhancements are controls).
	Groups, Controls int
}

// OSCALItem is a control family (group) or a control (an enhancement has a parent).
type OSCALItem struct {
	Kind   string // "group" or "control"
	ID     string
	Class  string
	Title  string
	Label  string // the "label" prop: AC-2(1)
	Parent string // the enclosing control or group
	Group  string // the family
	// Statement is the control's statement prose with its items' labels, Guidance its
	// discussion.
	Statement string
	Guidance  string
	// Status is "withdrawn" for a withdrawn control, else "".
	Status string
	Params []string
	Links  []OSCALLink
}

// OSCALLink is a control's link (a withdrawn control's "moved-to" or "incorporated-into").
type OSCALLink struct {
	Href string `json:"href"`
	Rel  string `json:"rel,omitempty"`
}

type oscalProp struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Class string `json:"class"`
}

type oscalPart struct {
	ID    string      `json:"id"`
	Name  string      `json:"name"`
	Prose string      `json:"prose"`
	Props []oscalProp `json:"props"`
	Parts []oscalPart `json:"parts"`
}

type oscalControl struct {
	ID     string `json:"id"`
	Class  string `json:"class"`
	Title  string `json:"title"`
	Params []struct {
		ID string `json:"id"`
	} `json:"params"`
	Props    []oscalProp     `json:"props"`
	Links    []OSCALLink     `json:"links"`
	Parts    []oscalPart     `json:"parts"`
	Controls []*oscalControl `json:"controls"`
}

type oscalGroup struct {
	ID       string          `json:"id"`
	Class    string          `json:"class"`
	Title    string          `json:"title"`
	Props    []oscalProp     `json:"props"`
	Parts    []oscalPart     `json:"parts"`
	Groups   []*oscalGroup   `json:"groups"`
	Controls []*oscalControl `json:"controls"`
}

// The OSCAL token datatype, which IDs use.
var oscalToken = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_.-]*$`)

// ParseOSCALCatalog reads an OSCAL catalog ({"catalog": {...}}) group by group, calling fn
// with each family and control (enhancements after their control). IDs must be unique.
func ParseOSCALCatalog(r io.Reader, fn func(OSCALItem) error) (OSCALCatalog, error) {
	var c OSCALCatalog
	d := json.NewDecoder(r)
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return c, oscalError("the document is not a JSON object")
	}
	seen := map[string]bool{}
	emit := func(it OSCALItem, where string) error {
		if !oscalToken.MatchString(it.ID) {
			return oscalError("%s.id: %q is not an OSCAL token", where, it.ID)
		}
		if seen[it.ID] {
			return oscalError("%s.id: %s is in the catalog twice", where, it.ID)
		}
		seen[it.ID] = true
		if it.Title == "" {
			return oscalError("%s (%s): title is missing", where, it.ID)
		}
		if len(it.Title) > 1000 || len(it.Statement)+len(it.Guidance) > 200_000 {
			return oscalError("%s (%s): title or prose too long", where, it.ID)
		}
		if it.Kind == "group" {
			c.Groups++
		} else {
			c.Controls++
		}
		if c.Groups+c.Controls > MaxSTIXObjects {
			return oscalError("more than %d groups and controls", MaxSTIXObjects)
		}
		return fn(it)
	}
	var control func(x *oscalControl, parent, group, where string) error
	control = func(x *oscalControl, parent, group, where string) error {
		if x == nil {
			return oscalError("%s: null", where)
		}
		it := OSCALItem{Kind: "control", ID: x.ID, Class: x.Class, Title: x.Title, Parent: parent, Group: group, Links: x.Links}
		for _, p := range x.Props {
			switch {
			case p.Name == "label" && it.Label == "":
				it.Label = p.Value
			case p.Name == "status":
				it.Status = p.Value
			}
		}
		for _, p := range x.Params {
			it.Params = append(it.Params, p.ID)
		}
		for _, p := range x.Parts {
			var b strings.Builder
			prose(&b, p, 0)
			switch p.Name {
			case "statement":
				it.Statement = strings.TrimSpace(b.String())
			case "guidance", "discussion":
				it.Guidance = strings.TrimSpace(b.String())
			}
		}
		if err := emit(it, where); err != nil {
			return err
		}
		for i, sub := range x.Controls {
			if err := control(sub, x.ID, group, fmt.Sprintf("%s.controls[%d]", where, i)); err != nil {
				return err
			}
		}
		return nil
	}
	var group func(g *oscalGroup, parent, where string) error
	group = func(g *oscalGroup, parent, where string) error {
		if g == nil {
			return oscalError("%s: null", where)
		}
		it := OSCALItem{Kind: "group", ID: g.ID, Class: g.Class, Title: g.Title, Parent: parent, Group: g.ID}
		for _, p := range g.Props {
			if p.Name == "label" && it.Label == "" {
				it.Label = p.Value
			}
		}
		if it.ID == "" { // an ID is optional on groups; the family's title keys it then
			it.ID = "group-" + strings.ToLower(strings.Join(strings.Fields(g.Title), "-"))
		}
		if err := emit(it, where); err != nil {
			return err
		}
		for i, sub := range g.Groups {
			if err := group(sub, it.ID, fmt.Sprintf("%s.groups[%d]", where, i)); err != nil {
				return err
			}
		}
		for i, x := range g.Controls {
			if err := control(x, it.ID, it.ID, fmt.Sprintf("%s.controls[%d]", where, i)); err != nil {
				return err
			}
		}
		return nil
	}
	haveCatalog := false
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return c, oscalError("%v", err)
		}
		if key, _ := tok.(string); key != "catalog" {
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return c, oscalError("%s: %v", key, err)
			}
			continue
		}
		haveCatalog = true
		if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
			return c, oscalError("catalog is not an object (a profile or another model?)")
		}
		haveMeta := false
		for d.More() {
			tok, err := d.Token()
			if err != nil {
				return c, oscalError("catalog: %v", err)
			}
			key, _ := tok.(string)
			where := "catalog." + key
			switch key {
			case "uuid":
				err = d.Decode(&c.UUID)
			case "metadata":
				haveMeta = true
				var m struct {
					Title        string `json:"title"`
					LastModified string `json:"last-modified"`
					Version      string `json:"version"`
					OSCALVersion string `json:"oscal-version"`
				}
				if err = d.Decode(&m); err == nil {
					c.Title, c.Version, c.OSCALVersion = m.Title, m.Version, m.OSCALVersion
					if c.LastModified, err = time.Parse(time.RFC3339Nano, m.LastModified); err != nil {
						return c, oscalError("catalog.metadata.last-modified: %q is not a date-time", m.LastModified)
					}
					c.LastModified = c.LastModified.UTC()
				}
			case "groups", "controls":
				if tok, err := d.Token(); err != nil || tok != json.Delim('[') {
					return c, oscalError("%s is not an array", where)
				}
				for i := 0; d.More(); i++ {
					at := fmt.Sprintf("%s[%d]", where, i)
					if key == "groups" {
						var g oscalGroup
						if err := d.Decode(&g); err != nil {
							return c, oscalError("%s: %v", at, err)
						}
						if err := group(&g, "", at); err != nil {
							return c, err
						}
					} else {
						var x oscalControl
						if err := d.Decode(&x); err != nil {
							return c, oscalError("%s: %v", at, err)
						}
						if err := control(&x, "", "", at); err != nil {
							return c, err
						}
					}
				}
				_, err = d.Token()
			default:
				var skip json.RawMessage
				err = d.Decode(&skip)
			}
			if err != nil {
				return c, oscalError("%s: %v", where, err)
			}
		}
		if _, err := d.Token(); err != nil {
			return c, oscalError("catalog: %v", err)
		}
		switch {
		case !haveMeta:
			return c, oscalError("catalog.metadata is missing")
		case c.Title == "" || c.Version == "":
			return c, oscalError("catalog.metadata: title and version are required")
		case !strings.HasPrefix(c.OSCALVersion, "1."):
			return c, oscalError("catalog.metadata.oscal-version: %q; OSCAL 1.x is read", c.OSCALVersion)
		}
	}
	if _, err := d.Token(); err != nil {
		return c, oscalError("%v", err)
	}
	if !haveCatalog {
		return c, oscalError("the document has no catalog (a profile, or another OSCAL model?)")
	}
	return c, nil
}

// prose flattens a part and its sub-parts, each item on its own line after its label.
func prose(b *strings.Builder, p oscalPart, depth int) {
	label := ""
	for _, pr := range p.Props {
		if pr.Name == "label" {
			label = pr.Value + " "
		}
	}
	if p.Prose != "" || label != "" {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.Repeat("  ", max(depth-1, 0)))
		b.WriteString(label)
		b.WriteString(p.Prose)
	}
	for _, sub := range p.Parts {
		prose(b, sub, depth+1)
	}
}
