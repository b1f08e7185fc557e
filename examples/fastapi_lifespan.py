"""The guide's FastAPI app with a lifespan handler, the form FastAPI recommends (``@app.on_event`` is deprecated).

Run it with ``uvicorn fastapi_lifespan:app`` from this directory (or ``python fastapi_lifespan.py``); the data
goes to ``app.db`` in the working directory. The store opens when the app starts and is closed (its queued writes
committed, its threads stopped) when the app shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from nanasqlite import AsyncNanaSQLite


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncNanaSQLite("app.db") as db:  # an error opening the file stops the start-up
        app.state.db = db
        yield


app = FastAPI(lifespan=lifespan)


def store(request: Request) -> AsyncNanaSQLite:
    return request.app.state.db  # type: ignore[no-any-return]


@app.get("/users/{user_id}")
async def get_user(user_id: str, request: Request) -> Any:
    user = await store(request).aget(f"user_{user_id}")
    if user is None:
        return {"error": "User not found"}
    return user


@app.post("/users")
async def create_user(user: dict[str, Any], request: Request) -> dict[str, Any]:
    await store(request).aset(f"user_{user['id']}", user)
    return {"status": "created", "id": user["id"]}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
