package outbox

import (
	"strconv"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// validityUnit is a unit a code's validity is told in, with its names in one language.
type validityUnit struct {
	size        time.Duration
	one, plural string
}

// validityWords holds, per language, the units tried largest first (a period reads best in
// the largest unit that measures it exactly: "1 minute", but "90 seconds"), the words for a
// period under a second, and the separator of thousands.
var validityWords = map[registration.Language]struct {
	units               []validityUnit
	underOne, thousands string
}{
	registration.English: {
		units: []validityUnit{
			{24 * time.Hour, "day", "days"}, {time.Hour, "hour", "hours"},
			{time.Minute, "minute", "minutes"}, {time.Second, "second", "seconds"},
		},
		underOne: "less than a second", thousands: ",",
	},
	registration.French: {
		units: []validityUnit{
			{24 * time.Hour, "jour", "jours"}, {time.Hour, "heure", "heures"},
			{time.Minute, "minute", "minutes"}, {time.Second, "seconde", "secondes"},
		},
		underOne: "moins d'une seconde", thousands: "\u00a0", // a no-break space: "1 000"
	},
}

// describeValidity puts d, rounded down to whole seconds, into words of lang. Counts are
// grouped by thousands ("1,000 seconds", "1 000 secondes"), so the text never holds a second
// 4-digit number that a reader could mistake for the code.
func describeValidity(d time.Duration, lang registration.Language) string {
	w := validityWords[lang]
	d = d.Truncate(time.Second)
	for _, u := range w.units {
		if d == 0 || d%u.size != 0 {
			continue
		}
		n := int64(d / u.size)
		if n == 1 {
			return "1 " + u.one
		}
		return groupThousands(n, w.thousands) + " " + u.plural
	}
	return w.underOne
}

func groupThousands(n int64, sep string) string {
	s := strconv.FormatInt(n, 10)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, sep...)
		}
		b = append(b, s[i])
	}
	return string(b)
}
