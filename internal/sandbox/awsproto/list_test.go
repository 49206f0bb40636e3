package awsproto

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPageTokens(t *testing.T) {
	p, err := ParsePage(Object{"MaxResults": int64(3)}, "ListAccounts", 20, "InvalidInputException")
	if err != nil {
		t.Fatal(err)
	}
	var pages [][2]int
	for {
		lo, hi, next := p.Window(8)
		pages = append(pages, [2]int{lo, hi})
		if next == "" {
			break
		}
		if p, err = ParsePage(Object{"MaxResults": "3", "NextToken": next}, "ListAccounts", 20, "InvalidInputException"); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([][2]int{{0, 3}, {3, 6}, {6, 8}}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

func FuzzDecodeToken(f *testing.F) {
	f.Add(encodePageToken(5, "ListAccounts"), "ListAccounts")
	f.Add("", "x")
	f.Add("djEAeAAtMQ", "x")
	f.Fuzz(func(t *testing.T, tok, scope string) {
		n, ok := decodePageToken(tok, scope)
		if ok && n < 0 {
			t.Errorf("negative offset %d", n)
		}
		if ok && !strings.Contains(scope, "\x00") {
			if again, ok2 := decodePageToken(encodePageToken(n, scope), scope); !ok2 || again != n {
				t.Errorf("re-encoding offset %d gave %d, %v", n, again, ok2)
			}
		}
	})
}

func TestParsePageErrors(t *testing.T) {
	for _, params := range []Object{
		{"MaxResults": int64(0)}, {"MaxResults": int64(21)}, {"MaxResults": "many"},
		{"NextToken": encodePageToken(3, "ListRoots")}, {"NextToken": "garbage"},
	} {
		if _, err := ParsePage(params, "ListAccounts", 20, "InvalidInputException"); err == nil || err.Code != "InvalidInputException" {
			t.Errorf("ParsePage(%v) = %v, want InvalidInputException", params, err)
		}
	}
}
