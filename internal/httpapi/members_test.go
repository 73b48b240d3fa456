package httpapi

import (
	"reflect"
	"testing"
)

// BenchmarkExactMembers is the cost exactMembers adds to every JSON body, here the second
// factor's.
func BenchmarkExactMembers(b *testing.B) {
	raw := []byte(`{"code":"123456"}`)
	t := reflect.TypeOf(&struct {
		Code string `json:"code"`
	}{})
	b.ReportAllocs()
	for b.Loop() {
		if err := exactMembers(raw, t); err != nil {
			b.Fatal(err)
		}
	}
}
