package clock_test

import (
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/clock"
)

// A test holds the time still and moves it on by a TOTP step instead of sleeping.
func ExampleFake() {
	c := clock.NewFake(time.Date(2031, 3, 14, 9, 0, 10, 0, time.UTC))
	var now clock.Clock = c // what a service is given
	fmt.Println(now.Now().Format(time.TimeOnly))
	c.Advance(30 * time.Second)
	fmt.Println(now.Now().Format(time.TimeOnly))
	// Output:
	// 09:00:10
	// 09:00:40
}
