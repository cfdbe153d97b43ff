package tasktype

import "github.com/tributary-io/tributary/xmlmap"

// XMLTargets are the fields an XML file import of each kind can fill, with the limits of the
// domain model (asset name ≤ 400, relevance 1-5, criticality 0-100, event title ≤ 2,500 and
// description ≤ 5,500, urgency, severity and relevance 1-5). Mappings are compiled against
// them (xmlmap.Compile), by the preview now and by the XML import task types.
var XMLTargets = map[string][]xmlmap.Target{
	"assets": {
		{Name: "id", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
		{Name: "name", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
		{Name: "type", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "description", Type: xmlmap.TypeString, MaxLength: 4000},
		{Name: "host_address", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "ip", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "os", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "relevance", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "criticality", Type: xmlmap.TypeInteger, HasRange: true, Min: 0, Max: 100},
		{Name: "responsible", Type: xmlmap.TypeString, MaxLength: 400},
	},
	"events": {
		{Name: "key", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "title", Type: xmlmap.TypeString, Required: true, MaxLength: 2500},
		{Name: "description", Type: xmlmap.TypeString, MaxLength: 5500},
		{Name: "type", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "urgency", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "severity", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "relevance", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "progress", Type: xmlmap.TypeInteger, HasRange: true, Min: 0, Max: 100},
		{Name: "responsible", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "asset", Type: xmlmap.TypeString, MaxLength: 400},
	},
	"vulnerabilities": {
		{Name: "vulnerability_id", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
		{Name: "title", Type: xmlmap.TypeString, Required: true, MaxLength: 2500},
		{Name: "level", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "cves", Type: xmlmap.TypeString, MaxLength: 4000},
		{Name: "description", Type: xmlmap.TypeString},
		{Name: "solution", Type: xmlmap.TypeString},
		{Name: "host", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
		{Name: "port", Type: xmlmap.TypeInteger, HasRange: true, Min: 0, Max: 65535},
		{Name: "protocol", Type: xmlmap.TypeString, MaxLength: 20},
		{Name: "status", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "evidence", Type: xmlmap.TypeString},
		{Name: "first_found", Type: xmlmap.TypeDateTime},
		{Name: "last_found", Type: xmlmap.TypeDateTime},
	},
}
