package web

import "github.com/gofiber/fiber/v2"

// opsRoutes registers the endpoints operators and monitors use.
func (s *server) opsRoutes(app *fiber.App) {
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
}
