package memstore

import (
	"reflect"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit/store"
)

// matches reports whether doc satisfies every condition of f, reading its
// top-level fields by their stored names as store.Filter says: the bson
// tag, else the json tag, else the lower-case field name.
func matches(doc any, f store.Filter) bool {
	if len(f) == 0 {
		return true
	}
	v := reflect.ValueOf(doc)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return false
	}
	for name, want := range f {
		got, ok := field(v, name)
		switch {
		case want == nil:
			if ok && !got.IsZero() {
				return false
			}
		case !ok:
			return false
		case !equal(got, want):
			return false
		}
	}
	return true
}

// field returns the field of struct v stored under name.
func field(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if strings.EqualFold(storedName(sf), name) {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func storedName(sf reflect.StructField) string {
	for _, tag := range []string{"bson", "json"} {
		if n, _, _ := strings.Cut(sf.Tag.Get(tag), ","); n != "" && n != "-" {
			return n
		}
	}
	return strings.ToLower(sf.Name)
}

// equal compares a field with a filter's value, converting the value to
// the field's type where it can (a string to a named string type, an int
// to Money).
func equal(got reflect.Value, want any) bool {
	w := reflect.ValueOf(want)
	if t, ok := want.(time.Time); ok {
		g, isTime := got.Interface().(time.Time)
		return isTime && g.Equal(t)
	}
	if w.Type() != got.Type() {
		if !w.CanConvert(got.Type()) {
			return false
		}
		w = w.Convert(got.Type())
	}
	return reflect.DeepEqual(got.Interface(), w.Interface())
}

// keep returns next with the fields of old that names (stored names)
// list: the immutable fields an update leaves as they are.
func keep[T any](old, next T, names []string) T {
	if len(names) == 0 {
		return next
	}
	o, n := reflect.ValueOf(&old).Elem(), reflect.ValueOf(&next).Elem()
	if n.Kind() != reflect.Struct {
		return next
	}
	for _, name := range names {
		if f, ok := field(n, name); ok && f.CanSet() {
			g, _ := field(o, name)
			f.Set(g)
		}
	}
	return next
}
