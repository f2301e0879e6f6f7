"""The pages of the review application, one module (one APIRouter) per page."""
