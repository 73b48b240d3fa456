package otp

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// QuietZone is the white margin around a QR code, in modules: the 4 that ISO/IEC 18004 asks
// for, without which phone cameras often fail to find the code on a dark page.
const QuietZone = 4

// QRPNG answers the PNG bytes of a QR code of content: medium error correction (level M),
// black on white, with a white quiet zone of at least QuietZone modules. The image is size
// by size pixels; each module is a whole number of pixels, so a size that is not a multiple
// of the module count (quiet zone included) leaves a little more white around the code. It fails if content does
// not fit a QR code or size is too small for one pixel per module.
func QRPNG(content string, size int) ([]byte, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("otp: encode QR code: %w", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*QuietZone)
	if scale < 1 {
		return nil, fmt.Errorf("otp: QR code of %d modules needs at least %d pixels, got %d",
			modules, modules+2*QuietZone, size)
	}
	inner := modules * scale
	scaled, err := barcode.Scale(code, inner, inner)
	if err != nil {
		return nil, fmt.Errorf("otp: scale QR code: %w", err)
	}

	// A two-colour palette keeps the PNG small; index 0 is white, so the new image starts
	// as all quiet zone and only the code is drawn onto it, centred.
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	off := (size - inner) / 2
	draw.Draw(img, image.Rect(off, off, off+inner, off+inner), scaled, image.Point{}, draw.Src)

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("otp: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}
