package main

import (
	"encoding/json"
	"io"
)

// writeJSON writes v as the one JSON document of a --json run.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
