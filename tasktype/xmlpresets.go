package tasktype

import "github.com/tributary-io/tributary/xmlmap"

// The presets: mappings of vendors' published XML formats, for the XML import task types.
// Element names follow Rapid7's XML Export 2.0 (NexposeReport version="2.0") and Qualys's
// ASSET_DATA_REPORT (asset_data_report.dtd) and scan report (scan-1.dtd); see
// ../shared/formats/scanners.md and the README's "XML file imports".

func ptr[T any](v T) *T { return &v }

// nexposeNodeID is a NeXpose node's asset ID: its device-id, else its address (XPath 1.0
// picks between the two with substring lengths).
const nexposeNodeID = "concat(@device-id, substring(@address, 1, 1000 * number(not(@device-id))))"

// nexposeLevel maps NeXpose's 0-10 severity to the 1-5 level (as the NeXpose import does).
var nexposeLevel = []xmlmap.Range{{Min: 0, Max: 0.99, Value: 1}, {Min: 1, Max: 3.99, Value: 2}, {Min: 4, Max: 6.99, Value: 3},
	{Min: 7, Max: 8.99, Value: 4}, {Min: 9, Max: 10, Value: 5}}

// qualysDate is the layout of Qualys report dates (2026-11-25T10:00:00Z).
const qualysDate = "2006-01-02T15:04:05Z07:00"

var xmlPresets = []XMLImportPreset{
	{Name: "nexpose_xml_2_assets", Kind: "assets", Title: "NeXpose XML Export 2.0: assets",
		Description: "One asset per nodes/node, keyed by its device-id (else its address), named by its first name (else its address); " +
			"relevance from the risk score as the NeXpose import derives it (one point per 1,000, 1-10 to 1-5).",
		Mapping: xmlmap.Mapping{Record: "/NexposeReport/nodes/node", Fields: []xmlmap.Field{
			{Target: "id", XPath: nexposeNodeID},
			{Target: "name", XPath: "concat(names/name, substring(@address, 1, 1000 * number(not(names/name))))"},
			{Target: "host_address", XPath: "concat(names/name, substring(@address, 1, 1000 * number(not(names/name))))"},
			{Target: "ip", XPath: "@address"},
			{Target: "os", XPath: "normalize-space(concat(fingerprints/os/@vendor, ' ', fingerprints/os/@product, ' ', fingerprints/os/@version))"},
			{Target: "description", XPath: "concat('Site ', @site-name)"},
			{Target: "relevance", XPath: "ceiling(@risk-score div 1000)", Default: ptr("1"),
				Ranges: []xmlmap.Range{{Min: 0, Max: 2, Value: 1}, {Min: 3, Max: 4, Value: 2}, {Min: 5, Max: 6, Value: 3}, {Min: 7, Max: 8, Value: 4}, {Min: 9, Max: 1e12, Value: 5}}},
		}}},
	{Name: "nexpose_xml_2_vulnerabilities", Kind: "vulnerabilities", Title: "NeXpose XML Export 2.0: vulnerabilities",
		Description: "One occurrence per vulnerable test of a node (nodes/node/tests/test) or of a service (…/endpoints/endpoint/services/service/tests/test, " +
			"with the endpoint's port and protocol), the test's key as instance; title, severity (0-10 to 1-5), description, solution and CVEs from " +
			"VulnerabilityDefinitions, matched case-insensitively by ID as NeXpose writes them.",
		Mapping: xmlmap.Mapping{Record: "/NexposeReport/nodes/node/tests/test",
			MoreRecords: []string{"/NexposeReport/nodes/node/endpoints/endpoint/services/service/tests/test"},
			Lookups: []xmlmap.Lookup{
				{Name: "title", Record: "/NexposeReport/VulnerabilityDefinitions/vulnerability", Key: "@id", KeyCase: "lower", Value: "@title"},
				{Name: "severity", Record: "/NexposeReport/VulnerabilityDefinitions/vulnerability", Key: "@id", KeyCase: "lower", Value: "@severity"},
				{Name: "description", Record: "/NexposeReport/VulnerabilityDefinitions/vulnerability", Key: "@id", KeyCase: "lower", Value: "normalize-space(description)"},
				{Name: "solution", Record: "/NexposeReport/VulnerabilityDefinitions/vulnerability", Key: "@id", KeyCase: "lower", Value: "normalize-space(solution)"},
				{Name: "cves", Record: "/NexposeReport/VulnerabilityDefinitions/vulnerability", Key: "@id", KeyCase: "lower",
					Value: "references/reference[@source='CVE']", Join: ptr(",")},
			},
			Fields: []xmlmap.Field{
				{Target: "vulnerability_id", XPath: "@id", Case: "lower"},
				{Target: "title", XPath: "@id", Lookup: "title"},
				{Target: "level", XPath: "@id", Lookup: "severity", Ranges: nexposeLevel},
				{Target: "description", XPath: "@id", Lookup: "description"},
				{Target: "solution", XPath: "@id", Lookup: "solution"},
				{Target: "cves", XPath: "@id", Lookup: "cves"},
				{Target: "host", XPath: "concat(ancestor::node/@device-id, substring(ancestor::node/@address, 1, 1000 * number(not(ancestor::node/@device-id))))"},
				{Target: "ip", XPath: "ancestor::node/@address"},
				{Target: "port", XPath: "ancestor::endpoint/@port"},
				{Target: "protocol", XPath: "ancestor::endpoint/@protocol"},
				{Target: "instance", XPath: "@key"},
				{Target: "status", XPath: "@status", ValueMap: map[string]string{"vulnerable-exploited": "open", "vulnerable-version": "open",
					"potential": "open", "vulnerable-potential": "open", "not-vulnerable": "not_vulnerable", "invulnerable": "not_vulnerable"}},
				{Target: "detection_type", XPath: "@status", ValueMap: map[string]string{"vulnerable-exploited": "confirmed", "vulnerable-version": "confirmed",
					"potential": "potential", "vulnerable-potential": "potential", "not-vulnerable": "confirmed", "invulnerable": "confirmed"}},
				{Target: "evidence", XPath: "normalize-space(.)"},
				{Target: "first_found", XPath: "substring(@vulnerable-since, 1, 15)", Layout: "20060102T150405"},
			}}},
	{Name: "qualys_asset_data_report_assets", Kind: "assets", Title: "Qualys ASSET_DATA_REPORT: assets",
		Description: "One asset per HOST_LIST/HOST, keyed by its IP, named as Modulo names scanner assets (NetBIOS, else DNS, else IP).",
		Mapping:     xmlmap.Mapping{Record: "/ASSET_DATA_REPORT/HOST_LIST/HOST", Fields: qualysHostFields("IP", "DNS", "NETBIOS", "OPERATING_SYSTEM")}},
	{Name: "qualys_asset_data_report_vulnerabilities", Kind: "vulnerabilities", Title: "Qualys ASSET_DATA_REPORT: vulnerabilities",
		Description: "One occurrence per HOST/VULN_INFO_LIST/VULN_INFO on its host's IP, port, protocol and SSL flag; title, severity, threat, " +
			"solution and CVEs from GLOSSARY/VULN_DETAILS_LIST (by the QID's id); status from VULN_STATUS (Fixed closes), type from TYPE " +
			"(Vuln confirmed, Practice potential, Ig information gathered).",
		Mapping: xmlmap.Mapping{Record: "/ASSET_DATA_REPORT/HOST_LIST/HOST/VULN_INFO_LIST/VULN_INFO",
			Lookups: []xmlmap.Lookup{
				{Name: "title", Record: "/ASSET_DATA_REPORT/GLOSSARY/VULN_DETAILS_LIST/VULN_DETAILS", Key: "@id", Value: "TITLE"},
				{Name: "severity", Record: "/ASSET_DATA_REPORT/GLOSSARY/VULN_DETAILS_LIST/VULN_DETAILS", Key: "@id", Value: "SEVERITY"},
				{Name: "threat", Record: "/ASSET_DATA_REPORT/GLOSSARY/VULN_DETAILS_LIST/VULN_DETAILS", Key: "@id", Value: "normalize-space(THREAT)"},
				{Name: "solution", Record: "/ASSET_DATA_REPORT/GLOSSARY/VULN_DETAILS_LIST/VULN_DETAILS", Key: "@id", Value: "normalize-space(SOLUTION)"},
				{Name: "cves", Record: "/ASSET_DATA_REPORT/GLOSSARY/VULN_DETAILS_LIST/VULN_DETAILS", Key: "@id", Value: "CVE_ID_LIST/CVE_ID/ID", Join: ptr(",")},
			},
			Fields: []xmlmap.Field{
				{Target: "vulnerability_id", XPath: "normalize-space(QID)"},
				{Target: "title", XPath: "QID/@id", Lookup: "title"},
				{Target: "level", XPath: "QID/@id", Lookup: "severity"},
				{Target: "description", XPath: "QID/@id", Lookup: "threat"},
				{Target: "solution", XPath: "QID/@id", Lookup: "solution"},
				{Target: "cves", XPath: "QID/@id", Lookup: "cves"},
				{Target: "host", XPath: "ancestor::HOST/IP"},
				{Target: "ip", XPath: "ancestor::HOST/IP"},
				{Target: "host_name", XPath: "ancestor::HOST/DNS"},
				{Target: "os", XPath: "ancestor::HOST/OPERATING_SYSTEM"},
				{Target: "port", XPath: "PORT"},
				{Target: "protocol", XPath: "PROTOCOL"},
				{Target: "instance", XPath: "substring('ssl', 1, 3 * number(SSL = '1' or SSL = 'true'))"},
				{Target: "status", XPath: "VULN_STATUS", Default: ptr("open"),
					ValueMap: map[string]string{"New": "open", "Active": "open", "Re-Opened": "open", "Fixed": "closed"}},
				{Target: "detection_type", XPath: "TYPE", Default: ptr("confirmed"),
					ValueMap: map[string]string{"Vuln": "confirmed", "Practice": "potential", "Ig": "info"}},
				{Target: "evidence", XPath: "RESULT"},
				{Target: "first_found", XPath: "FIRST_FOUND", Layout: qualysDate},
				{Target: "last_found", XPath: "LAST_FOUND", Layout: qualysDate},
			}}},
	{Name: "qualys_scan_assets", Kind: "assets", Title: "Qualys scan report (SCAN): assets",
		Description: "One asset per SCAN/IP, keyed by its address (@value), named by its DNS name (@name), else the address.",
		Mapping: xmlmap.Mapping{Record: "/SCAN/IP", Fields: []xmlmap.Field{
			{Target: "id", XPath: "@value"},
			{Target: "name", XPath: "concat(@name, substring(@value, 1, 100 * number(string-length(normalize-space(@name)) = 0)))"},
			{Target: "host_address", XPath: "concat(@name, substring(@value, 1, 100 * number(string-length(normalize-space(@name)) = 0)))"},
			{Target: "ip", XPath: "@value"},
			{Target: "os", XPath: "normalize-space(OS)"},
		}}},
	{Name: "qualys_scan_vulnerabilities", Kind: "vulnerabilities", Title: "Qualys scan report (SCAN): vulnerabilities",
		Description: "One occurrence per confirmed VULN (SCAN/IP/VULNS/CAT/VULN) and potential PRACTICE (SCAN/IP/PRACTICES/CAT/PRACTICE), on the " +
			"category's port and protocol; title, severity, diagnosis, solution, CVEs and result from the entry itself; found at the report's " +
			"HEADER/KEY DATE.",
		Mapping: xmlmap.Mapping{Record: "/SCAN/IP/VULNS/CAT/VULN", MoreRecords: []string{"/SCAN/IP/PRACTICES/CAT/PRACTICE"},
			Lookups: []xmlmap.Lookup{{Name: "header", Record: "/SCAN/HEADER/KEY", Key: "@value", Value: "."}},
			Fields: []xmlmap.Field{
				{Target: "vulnerability_id", XPath: "@number"},
				{Target: "title", XPath: "normalize-space(TITLE)"},
				{Target: "level", XPath: "@severity"},
				{Target: "description", XPath: "normalize-space(DIAGNOSIS)"},
				{Target: "solution", XPath: "normalize-space(SOLUTION)"},
				{Target: "cves", XPath: "CVE_ID_LIST/CVE_ID/ID", Join: ptr(",")},
				{Target: "host", XPath: "ancestor::IP/@value"},
				{Target: "ip", XPath: "ancestor::IP/@value"},
				{Target: "host_name", XPath: "ancestor::IP/@name"},
				{Target: "port", XPath: "ancestor::CAT/@port"},
				{Target: "protocol", XPath: "ancestor::CAT/@protocol"},
				{Target: "detection_type", XPath: "name()", ValueMap: map[string]string{"VULN": "confirmed", "PRACTICE": "potential"}},
				{Target: "evidence", XPath: "RESULT"},
				{Target: "last_found", XPath: "'DATE'", Lookup: "header", Layout: qualysDate},
			}}},
}

// qualysHostFields map a Qualys host element's IP, DNS, NetBIOS and OS children to an
// asset: keyed by IP, named "NetBIOS", else DNS, else IP.
func qualysHostFields(ip, dns, netbios, os string) []xmlmap.Field {
	name := "concat(" + netbios + ", substring(" + dns + ", 1, 400 * number(string-length(normalize-space(" + netbios + ")) = 0)), substring(" + ip +
		", 1, 100 * number(string-length(normalize-space(concat(" + netbios + ", " + dns + "))) = 0)))"
	addr := "concat(" + dns + ", substring(" + netbios + ", 1, 100 * number(string-length(normalize-space(" + dns + ")) = 0)), substring(" + ip +
		", 1, 100 * number(string-length(normalize-space(concat(" + netbios + ", " + dns + "))) = 0)))"
	return []xmlmap.Field{
		{Target: "id", XPath: "normalize-space(" + ip + ")"},
		{Target: "name", XPath: name},
		{Target: "host_address", XPath: addr},
		{Target: "ip", XPath: "normalize-space(" + ip + ")"},
		{Target: "os", XPath: "normalize-space(" + os + ")"},
	}
}
