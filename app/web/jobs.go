package web

import "github.com/gofiber/fiber/v2"

// jobRoutes registers the scheduled jobs' part of the admin API.
func (s *server) jobRoutes(api fiber.Router) {}
