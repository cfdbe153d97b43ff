package feeds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSTIX is wrapped by every problem of an ATT&CK STIX 2.1 bundle or collection index.
var ErrSTIX = errors.New("not a valid ATT&CK STIX bundle")

func stixError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSTIX, fmt.Sprintf(format, args...))
}

// STIXBundle is what a bundle says of itself: its ID and its x-mitre-collection object.
type STIXBundle struct {
	ID                string
	CollectionID      string
	CollectionName    string
	CollectionVersion string
	// Modified is the collection's modified time.
	Modified time.Time
	// Objects counts the objects read (the collection object included).
	Objects int
}

// STIXObject is one STIX domain or relationship object, reduced to what the threat
// library uses.
type STIXObject struct {
	ID          string
	Type        string
	Name        string
	Description string
	Created     time.Time
	Modified    time.Time
	Revoked     bool
	Deprecated  bool
	// ExternalID is the ATT&CK ID (T1059.001, G0016, M1036, S0154, TA0002), URL its page.
	ExternalID string
	URL        string
	// Relationship objects: source_ref -relationship_type-> target_ref.
	SourceRef, TargetRef, RelationshipType string
	KillChainPhases                        []string
	Platforms                              []string
	Aliases                                []string
	IsSubtechnique                         bool
}

var stixID = regexp.MustCompile(`^([a-z][a-z0-9-]*[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

type stixRaw struct {
	Type               string `json:"type"`
	ID                 string `json:"id"`
	SpecVersion        string `json:"spec_version"`
	Name               string `json:"name"`
	Description        string `json:"description"`
	Created            string `json:"created"`
	Modified           string `json:"modified"`
	Revoked            bool   `json:"revoked"`
	Deprecated         bool   `json:"x_mitre_deprecated"`
	ExternalReferences []struct {
		SourceName string `json:"source_name"`
		ExternalID string `json:"external_id"`
		URL        string `json:"url"`
	} `json:"external_references"`
	SourceRef        string `json:"source_ref"`
	TargetRef        string `json:"target_ref"`
	RelationshipType string `json:"relationship_type"`
	KillChainPhases  []struct {
		KillChainName string `json:"kill_chain_name"`
		PhaseName     string `json:"phase_name"`
	} `json:"kill_chain_phases"`
	Platforms      []string `json:"x_mitre_platforms"`
	Aliases        []string `json:"aliases"`
	IsSubtechnique bool     `json:"x_mitre_is_subtechnique"`
	Version        string   `json:"x_mitre_version"`
	Contents       []struct {
		ObjectRef      string `json:"object_ref"`
		ObjectModified string `json:"object_modified"`
	} `json:"x_mitre_contents"`
}

// MaxSTIXObjects caps a bundle (Enterprise ATT&CK holds about 25,000 objects).
const MaxSTIXObjects = 500_000

// ParseSTIX reads a bundle as a stream, calling fn with each checked object but the
// x-mitre-collection, which it checks the bundle against at the end: every object it lists
// must be in the bundle with exactly the modified time it lists. IDs must be unique.
func ParseSTIX(r io.Reader, fn func(STIXObject) error) (STIXBundle, error) {
	var b STIXBundle
	d := json.NewDecoder(r)
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return b, stixError("the document is not a JSON object")
	}
	modified := map[string]time.Time{}
	var listed map[string]string
	haveObjects, typ := false, ""
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return b, stixError("%v", err)
		}
		key, _ := tok.(string)
		switch key {
		case "type":
			err = d.Decode(&typ)
		case "id":
			err = d.Decode(&b.ID)
		case "objects":
			haveObjects = true
			if tok, err := d.Token(); err != nil || tok != json.Delim('[') {
				return b, stixError("objects is not an array")
			}
			for d.More() {
				var raw stixRaw
				if err := d.Decode(&raw); err != nil {
					return b, stixError("objects[%d]: %v", b.Objects, err)
				}
				o, err := raw.check()
				if err != nil {
					return b, stixError("objects[%d].%v", b.Objects, err)
				}
				if _, dup := modified[o.ID]; dup {
					return b, stixError("objects[%d].id: %s is in the bundle twice", b.Objects, o.ID)
				}
				modified[o.ID] = o.Modified
				if b.Objects++; b.Objects > MaxSTIXObjects {
					return b, stixError("more than %d objects", MaxSTIXObjects)
				}
				if o.Type == "x-mitre-collection" {
					if listed != nil {
						return b, stixError("objects[%d]: a second x-mitre-collection", b.Objects-1)
					}
					b.CollectionID, b.CollectionName, b.CollectionVersion, b.Modified = o.ID, o.Name, raw.Version, o.Modified
					listed = make(map[string]string, len(raw.Contents))
					for _, c := range raw.Contents {
						listed[c.ObjectRef] = c.ObjectModified
					}
					continue
				}
				if err := fn(o); err != nil {
					return b, err
				}
			}
			if _, err := d.Token(); err != nil {
				return b, stixError("objects: %v", err)
			}
		default:
			var skip json.RawMessage
			err = d.Decode(&skip)
		}
		if err != nil {
			return b, stixError("%s: %v", key, err)
		}
	}
	if _, err := d.Token(); err != nil {
		return b, stixError("%v", err)
	}
	switch {
	case typ != "bundle":
		return b, stixError("type is %q, not bundle", typ)
	case !haveObjects:
		return b, stixError("objects is missing")
	case listed == nil:
		return b, stixError("the bundle has no x-mitre-collection object (its version and contents)")
	case b.CollectionVersion == "":
		return b, stixError("the x-mitre-collection has no x_mitre_version")
	}
	// The collection lists each object's exact modified time: a missing or other one is a cut
	// or mixed bundle.
	refs := make([]string, 0, len(listed))
	for ref := range listed {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		got, ok := modified[ref]
		if !ok {
			return b, stixError("the x-mitre-collection lists %s, which is not in the bundle", ref)
		}
		want, err := time.Parse(time.RFC3339Nano, listed[ref])
		if err != nil {
			return b, stixError("the x-mitre-collection lists %s with modified %q, not a date-time", ref, listed[ref])
		}
		if !want.Equal(got) {
			return b, stixError("the x-mitre-collection lists %s modified %s, the bundle has it modified %s", ref, listed[ref], got.Format(time.RFC3339Nano))
		}
	}
	return b, nil
}

func (raw *stixRaw) check() (STIXObject, error) {
	o := STIXObject{ID: raw.ID, Type: raw.Type, Name: raw.Name, Description: raw.Description, Revoked: raw.Revoked, Deprecated: raw.Deprecated,
		SourceRef: raw.SourceRef, TargetRef: raw.TargetRef, RelationshipType: raw.RelationshipType, Platforms: raw.Platforms, Aliases: raw.Aliases,
		IsSubtechnique: raw.IsSubtechnique}
	m := stixID.FindStringSubmatch(raw.ID)
	if m == nil {
		return o, fmt.Errorf("id: %q is not a STIX identifier (type--UUID)", raw.ID)
	}
	if m[1] != raw.Type {
		return o, fmt.Errorf("type (%s): %q, but the identifier says %q", raw.ID, raw.Type, m[1])
	}
	if raw.SpecVersion != "" && raw.SpecVersion != "2.1" && raw.SpecVersion != "2.0" {
		return o, fmt.Errorf("spec_version (%s): %q; STIX 2.1 is read", raw.ID, raw.SpecVersion)
	}
	var err error
	if o.Created, err = time.Parse(time.RFC3339Nano, raw.Created); err != nil && raw.Created != "" {
		return o, fmt.Errorf("created (%s): %q is not a timestamp", raw.ID, raw.Created)
	}
	if raw.Modified == "" { // marking definitions are never modified
		o.Modified = o.Created
	} else if o.Modified, err = time.Parse(time.RFC3339Nano, raw.Modified); err != nil {
		return o, fmt.Errorf("modified (%s): %q is not a timestamp", raw.ID, raw.Modified)
	}
	if o.Modified.IsZero() {
		return o, fmt.Errorf("modified (%s): missing", raw.ID)
	}
	if raw.Type == "relationship" {
		if !stixID.MatchString(raw.SourceRef) || !stixID.MatchString(raw.TargetRef) {
			return o, fmt.Errorf("source_ref (%s): source_ref and target_ref must be STIX identifiers", raw.ID)
		}
		if raw.RelationshipType == "" {
			return o, fmt.Errorf("relationship_type (%s): missing", raw.ID)
		}
		o.Name = raw.RelationshipType
	}
	for _, ref := range raw.ExternalReferences {
		if strings.HasPrefix(ref.SourceName, "mitre-") && ref.ExternalID != "" && o.ExternalID == "" {
			o.ExternalID, o.URL = ref.ExternalID, ref.URL
		}
	}
	for _, p := range raw.KillChainPhases {
		o.KillChainPhases = append(o.KillChainPhases, p.PhaseName)
	}
	if len(o.Name) > 1000 || len(o.Description) > 200_000 || len(o.ExternalID) > 100 {
		return o, fmt.Errorf("name (%s): name, description or ATT&CK ID too long", raw.ID)
	}
	return o, nil
}

// STIXCollection is one collection of an ATT&CK collection index (index.json), newest
// version first.
type STIXCollection struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Versions []struct {
		Version  string `json:"version"`
		URL      string `json:"url"`
		Modified string `json:"modified"`
	} `json:"versions"`
}

// ParseSTIXIndex reads a collection index and returns the collection named name (or with
// that ID), its versions newest first.
func ParseSTIXIndex(r io.Reader, name string) (STIXCollection, error) {
	var idx struct {
		Collections []STIXCollection `json:"collections"`
	}
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&idx); err != nil {
		return STIXCollection{}, stixError("collection index: %v", err)
	}
	for _, c := range idx.Collections {
		if !strings.EqualFold(c.Name, name) && c.ID != name {
			continue
		}
		if len(c.Versions) == 0 {
			return c, stixError("collection index: %q lists no versions", c.Name)
		}
		for i, v := range c.Versions {
			if v.URL == "" || v.Version == "" {
				return c, stixError("collection index: %q versions[%d] has no version or url", c.Name, i)
			}
		}
		sort.SliceStable(c.Versions, func(i, j int) bool { return CompareVersions(c.Versions[i].Version, c.Versions[j].Version) > 0 })
		return c, nil
	}
	names := []string{}
	for _, c := range idx.Collections {
		names = append(names, c.Name)
	}
	return STIXCollection{}, stixError("collection index: no collection %q (it lists %s)", name, strings.Join(names, ", "))
}

// CompareVersions compares dotted versions numerically ("15.1" < "16.0" < "16.10"): -1, 0
// or 1; parts that are not numbers compare as text.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := "0", "0"
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		nx, ex := strconv.Atoi(x)
		ny, ey := strconv.Atoi(y)
		switch {
		case ex == nil && ey == nil && nx != ny:
			if nx < ny {
				return -1
			}
			return 1
		case (ex != nil || ey != nil) && x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}
