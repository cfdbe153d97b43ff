package scanner

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHTMLText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                            "plain",
		"a &amp; b":                        "a & b",
		"One.<P>\n\n<P>Two:<BR>three <BR>": "One.\n\nTwo:\nthree",
		"<ul><li>x</li><li>y</li></ul>":    "- x\n- y",
		`see <A HREF="https://e.example/a">the advisory</A>.`: "see the advisory (https://e.example/a).",
		`<a href="https://e.example">https://e.example</a>`:   "https://e.example",
		"<script>alert(1)</script>safe":                       "safe",
		"bad \x00 utf8 \xff":                                  "bad  utf8",
	} {
		if got := HTMLText(in); got != want {
			t.Errorf("HTMLText(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzHTMLText: any vendor text becomes clean text and harmless HTML.
func FuzzHTMLText(f *testing.F) {
	for _, s := range []string{"<P>a<BR>b", "<a href=\"javascript:alert(1)\">x</a>", "&quot;&unknown;", "<ul><li>", "\x00\xff<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		txt, h := HTMLText(s), SanitizeHTML(s)
		for _, v := range []string{txt, h} {
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("unclean %q from %q", v, s)
			}
		}
		if l := strings.ToLower(h); strings.Contains(l, "<script") || strings.Contains(l, "=\"javascript:") {
			t.Fatalf("unsafe HTML %q from %q", h, s)
		}
	})
}
