package xmlstream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

// CharsetReader converts a document in the named encoding to UTF-8: ISO-8859-1 and
// Windows-1252 (under their usual labels) are converted; UTF-8 and US-ASCII need no
// conversion (r is returned); any other encoding is an error. Its signature is
// encoding/xml's Decoder.CharsetReader.
func CharsetReader(label string, r io.Reader) (io.Reader, error) {
	switch normLabel(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1", "cp819", "ibm819", "iso-ir-100", "csisolatin1":
		return charmap.ISO8859_1.NewDecoder().Reader(r), nil
	case "windows-1252", "cp1252", "x-cp1252":
		return charmap.Windows1252.NewDecoder().Reader(r), nil
	}
	return nil, fmt.Errorf("the document declares encoding %q; supported are UTF-8, ISO-8859-1 and Windows-1252", label)
}

func normLabel(label string) string { return strings.ToLower(label) }

func isUTF8Label(label string) bool {
	switch normLabel(label) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return true
	}
	return false
}

// declPeek is how much of the start of a document is searched for the XML declaration.
const declPeek = 1024

// sniff reads the XML declaration at the start of the document (after an optional UTF-8
// byte order mark and white space) and returns the reader to tokenize, converted to UTF-8,
// and the declared encoding ("" when none).
func sniff(br *bufio.Reader) (io.Reader, string, error) {
	head, _ := br.Peek(declPeek)
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if !bytes.HasPrefix(head, []byte("<?xml")) || len(head) < 6 || !(isSpace(head[5]) || head[5] == '?') {
		return br, "", nil
	}
	end := bytes.Index(head, []byte("?>"))
	if end < 0 {
		return br, "", nil
	}
	enc := procInst("encoding", string(head[5:end]))
	if isUTF8Label(enc) {
		return br, enc, nil
	}
	r, err := CharsetReader(enc, br)
	return r, enc, err
}

// procInst returns the value of the pseudo-attribute param of a processing instruction's
// content, as encoding/xml reads it.
func procInst(param, s string) string {
	param += "="
	lenp := len(param)
	i := 0
	var sep byte
	for i < len(s) {
		sub := s[i:]
		k := strings.Index(sub, param)
		if k < 0 || lenp+k >= len(sub) {
			return ""
		}
		i += lenp + k + 1
		if c := sub[lenp+k]; c == '\'' || c == '"' {
			sep = c
			break
		}
	}
	if sep == 0 {
		return ""
	}
	j := strings.IndexByte(s[i:], sep)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}
