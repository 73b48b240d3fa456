package argon2id

//go:generate go run gen_permute.go

// block is one 1 KiB argon2 memory block, as 128 little-endian 64-bit words.
type block [128]uint64

// processBlock is the compression function G (RFC 9106 §3.5): out = G(in1, in2), or with xor
// out ^= G(in1, in2) (passes after the first, version 0x13).
//
// This package never passes an out that is the same block as in1 or in2, so an
// implementation may write out before it has read all of in1 and in2.
var processBlock = processBlockGeneric

// processBlockGeneric is processBlock in plain Go. It reads in1 and in2 in
// full before it writes out, so out may also be in1 or in2 here.
func processBlockGeneric(out, in1, in2 *block, xor bool) {
	// R = in1 XOR in2; Z = P applied to the rows, then the columns, of R;
	// G(in1, in2) = Z XOR R.
	var r, z block
	for i := range r {
		r[i] = in1[i] ^ in2[i]
	}
	z = r
	permute(&z)
	if xor {
		for i := range out {
			out[i] ^= r[i] ^ z[i]
		}
	} else {
		for i := range out {
			out[i] = r[i] ^ z[i]
		}
	}
}
