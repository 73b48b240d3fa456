package mail_test

import (
	"fmt"

	"github.com/twofold-auth/twofold/internal/mail"
)

func ExampleParseSMTPURL() {
	s, err := mail.ParseSMTPURL("smtp://twofold%40example.org:s3cret@mail.example.org")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Host, s.Port, s.Username, s.TLS)
	fmt.Println(s) // never the password
	// Output:
	// mail.example.org 587 twofold@example.org starttls
	// smtp twofold@example.org:[redacted]@mail.example.org:587 (starttls)
}
