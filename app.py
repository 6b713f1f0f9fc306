"""HTTP routes of the sign-in service. Routing only: behaviour lives in ``chalicelib``."""

from chalice import Chalice

from chalicelib import api, otp_actions

app = Chalice(app_name="otp-signin")

OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE"]


@app.route("/otp", methods=["POST"], content_types=["*/*"])
def otp() -> object:
    return api.respond(app.current_request, "/otp", otp_actions.handle)


@app.route("/otp", methods=["OPTIONS"])
def otp_preflight() -> object:
    return api.preflight(app.current_request)


@app.route("/otp", methods=OTHER_METHODS, content_types=["*/*"])
def otp_other_methods() -> object:
    return api.respond(app.current_request, "/otp", api.method_not_allowed)
