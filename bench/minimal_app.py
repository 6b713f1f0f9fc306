"""The smallest Chalice app with one JSON route: the floor a cold start of the real app is compared with."""

from chalice import Chalice

app = Chalice(app_name="minimal")


@app.route("/otp", methods=["POST"])
def otp() -> dict[str, str]:
    return {"message": "ok", "code": "ok"}
