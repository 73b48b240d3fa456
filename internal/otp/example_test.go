package otp_test

import (
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/otp"
)

func ExampleKeyURI() {
	key := []byte("12345678901234567890") // from otp.GenerateKey(rand.Reader) in real use
	fmt.Println(otp.KeyURI("Twofold", "alice@example.com", key, otp.Default))
	fmt.Println(otp.GroupKey(otp.EncodeKey(key)))
	// Output:
	// otpauth://totp/Twofold:alice@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Twofold&algorithm=SHA1&digits=6&period=30
	// GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ
}

func ExampleTOTP() {
	key := []byte("12345678901234567890")
	at := time.Date(2009, 2, 13, 23, 31, 30, 0, time.UTC) // Unix 1234567890
	code := otp.TOTP(key, at, otp.Default)
	fmt.Println(code)

	// Ten seconds later the same code is still good, and answers the step to store so that
	// it cannot be used again.
	step, ok := otp.Verify(key, code, at.Add(10*time.Second), otp.Default, 1, -1)
	fmt.Println(step, ok)
	_, ok = otp.Verify(key, code, at.Add(10*time.Second), otp.Default, 1, step)
	fmt.Println(ok)
	// Output:
	// 005924
	// 41152263 true
	// false
}
