package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/twofold-auth/twofold/internal/app"
)

// common are the settings every command takes.
type common struct {
	data     string
	db       string
	mail     string
	mailFrom string
	baseURL  string
}

// config is the app's configuration of the settings every command takes, with the server key
// from TWOFOLD_SECRET_KEY.
func (c common) config(log *slog.Logger) app.Config {
	return app.Config{Data: c.data, DB: c.db, SecretKey: os.Getenv("TWOFOLD_SECRET_KEY"), Mail: c.mail,
		MailFrom: c.mailFrom, BaseURL: c.baseURL, Logger: log}
}

// open opens Twofold without its server, for a command.
func open(ctx context.Context, c common, log *slog.Logger) (*app.App, error) {
	return app.Open(ctx, c.config(log))
}
