"""The FastAPI example of the async quick guide, exactly as the guide writes it.

Run it with ``uvicorn fastapi_app:app`` from this directory (or ``python fastapi_app.py``); the data goes to
``app.db`` in the working directory. ``@app.on_event`` is deprecated in recent FastAPI releases in favour of a
lifespan handler, but it still works, and this file follows the guide.
"""

# The code below is the guide's, as written: the linter's style rules do not apply to it.
# ruff: noqa: E302, E305, F401, I001

from fastapi import FastAPI
from nanasqlite import AsyncNanaSQLite

app = FastAPI()

# Initialize database on application startup
@app.on_event("startup")
async def startup():
    app.state.db = AsyncNanaSQLite("app.db")

@app.on_event("shutdown")
async def shutdown():
    await app.state.db.close()

# Endpoints
@app.get("/users/{user_id}")
async def get_user(user_id: str):
    user = await app.state.db.aget(f"user_{user_id}")
    if user is None:
        return {"error": "User not found"}
    return user

@app.post("/users")
async def create_user(user: dict):
    await app.state.db.aset(f"user_{user['id']}", user)
    return {"status": "created", "id": user['id']}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
