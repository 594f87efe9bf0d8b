"""Model-agnostic curvature for influence unlearning: products and inverse solvers."""
