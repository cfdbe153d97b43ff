package directory

import "github.com/go-ldap/ldap/v3"

// RangeValuesForTest exposes range retrieval over any searcher.
func RangeValuesForTest(s searcher, e *ldap.Entry, attr string) ([]string, error) {
	return rangeValues(s, "ldap://test", e, attr)
}
