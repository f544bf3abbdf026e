package hubspotapp

import "github.com/gofiber/fiber/v2"

func (h *Server) cardRoutes(g fiber.Router) {}
