"""The pricing service: quotes a price, slowly by design (``PRICING_DELAY_MS``, default
150 ms, stands for a remote pricing engine)."""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI
from pydantic import BaseModel

DELAY_S = float(os.environ.get("PRICING_DELAY_MS", "150")) / 1000

app = FastAPI(title="pricing")


class QuoteRequest(BaseModel):
    product_id: int
    list_price_cents: int


@app.post("/quote")
async def quote(request: QuoteRequest) -> dict[str, int]:
    await asyncio.sleep(DELAY_S)
    return {"product_id": request.product_id, "price_cents": request.list_price_cents * 9 // 10}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
