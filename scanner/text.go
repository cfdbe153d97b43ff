package scanner

import (
	"html"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	xhtml "golang.org/x/net/html"
)

// htmlPolicy keeps the markup a vendor uses for readable text (paragraphs, line breaks,
// lists, emphasis, tables and links) and drops everything else: scripts, styles, event
// attributes, javascript: URLs. Links get rel="nofollow noopener".
var htmlPolicy = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(false)
	return p
}()

// SanitizeHTML returns vendor HTML that a UI may render: only harmless markup is kept.
func SanitizeHTML(s string) string {
	if s == "" {
		return ""
	}
	return strings.TrimSpace(htmlPolicy.Sanitize(Clean(s)))
}

// blockTags end a line of text: paragraphs, breaks, list items, table rows, headings.
var blockTags = map[string]bool{
	"p": true, "br": true, "div": true, "li": true, "ul": true, "ol": true, "tr": true, "table": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "pre": true, "blockquote": true,
}

// HTMLText turns vendor HTML (Qualys knowledge-base texts with <P>, <BR>, <A HREF>; Nexpose
// proofs and descriptions) into readable plain text: block elements become line breaks, list
// items get a bullet, links keep their address after the text, entities are decoded, and runs
// of blank lines are folded. Text without markup is returned with its entities decoded.
func HTMLText(s string) string {
	s = Clean(s)
	if !strings.ContainsAny(s, "<&") {
		return strings.TrimSpace(s)
	}
	if !strings.Contains(s, "<") {
		return strings.TrimSpace(html.UnescapeString(s))
	}
	var b strings.Builder
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var href string
	linkStart, skip := 0, 0
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return foldBlankLines(b.String())
		case xhtml.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken, xhtml.EndTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if tag == "script" || tag == "style" {
				if tt == xhtml.StartTagToken {
					skip++
				} else if tt == xhtml.EndTagToken && skip > 0 {
					skip--
				}
				continue
			}
			if tag == "a" {
				if tt == xhtml.StartTagToken {
					href, linkStart = "", b.Len()
					for hasAttr {
						var k, v []byte
						k, v, hasAttr = z.TagAttr()
						if string(k) == "href" {
							href = strings.TrimSpace(string(v))
						}
					}
				} else if tt == xhtml.EndTagToken && href != "" {
					if strings.TrimSpace(b.String()[linkStart:]) != href {
						b.WriteString(" (" + href + ")")
					}
					href = ""
				}
				continue
			}
			// A list item starts a line; a list or an item's end adds none of its own.
			if blockTags[tag] && !((tag == "ul" || tag == "ol") && tt == xhtml.StartTagToken) && !(tag == "li" && tt == xhtml.EndTagToken) {
				b.WriteByte('\n')
				if tag == "li" && tt == xhtml.StartTagToken {
					b.WriteString("- ")
				}
			} else if tag == "td" || tag == "th" {
				b.WriteByte('\t')
			}
		}
	}
}

// foldBlankLines trims trailing spaces of each line, keeps at most one blank line in a row and
// trims the whole text.
func foldBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if strings.TrimSpace(l) == "" {
			blank++
			if blank > 1 {
				continue
			}
			l = ""
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// Notes collects what a client skipped or stored incompletely (a vanished asset, a
// knowledge-base entry without a title) for the run details: the first MaxNotes are kept
// and all are counted. The zero value is ready; a nil *Notes discards.
type Notes struct {
	// Items are the first MaxNotes notes.
	Items []string
	// Total counts every note.
	Total int
}

// MaxNotes caps the notes kept in a Notes.
const MaxNotes = 20

// Add records a note.
func (n *Notes) Add(msg string) {
	if n == nil {
		return
	}
	n.Total++
	if len(n.Items) < MaxNotes {
		n.Items = append(n.Items, msg)
	}
}
