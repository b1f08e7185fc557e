"""The Quart example of the async quick guide, exactly as the guide writes it.

Run it with ``python quart_app.py`` (or ``quart --app quart_app run``); the data goes to ``app.db`` in the
working directory.
"""

# The code below is the guide's, as written: the linter's style rules do not apply to it.
# ruff: noqa: E302, E305, F401, I001

from quart import Quart, request, jsonify
from nanasqlite import AsyncNanaSQLite

app = Quart(__name__)
db = None

@app.before_serving
async def startup():
    global db
    db = AsyncNanaSQLite("app.db")

@app.after_serving
async def shutdown():
    await db.close()

@app.route("/users/<user_id>")
async def get_user(user_id):
    user = await db.aget(f"user_{user_id}")
    return jsonify(user)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
