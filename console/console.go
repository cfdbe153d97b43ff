// Package console is Tributary's web console: a small front end, embedded in tributary-server
// and served by it, that signs in with an API token (exchanged for a session cookie) and then
// uses the JSON API itself, so roles, validation and the audit trail are the API's. Nothing
// is fetched from elsewhere: the files below are all it needs, and there is no build step.
package console

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Files returns the console's files (index.html, app.js, app.css).
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	return sub
}

// ContentSecurityPolicy is the policy the console's pages are served with: everything from
// the server itself, no inline scripts or styles, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
