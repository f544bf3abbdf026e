package web

import "github.com/gofiber/fiber/v2"

// securityHeaders applies to every response: nosniff, so that no browser
// reads an uploaded icon, a JSON answer or a static file as HTML or
// script whatever its bytes look like.
func securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Next()
}
