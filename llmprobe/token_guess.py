"""What a request will cost against a token limit, before the provider says.

Tokens per minute are a bucket of their own (`llmprobe.pacing`): a request goes when the
budget holds its expected cost, and that cost is guessed here.
"""

from __future__ import annotations

from llmprobe.neutral import AttachmentPart, DocumentPart, Request, TextPart, Usage

#: Tokens an attached medium (a picture, a recording, a PDF) is guessed to cost before one of its
#: size has been answered (providers count from about a hundred to a few thousand).
MEDIUM_TOKENS = 1000

#: Characters of text, each image's size (or URL), tools offered, max_tokens.
_Shape = tuple[int, tuple[int | str | None, ...], int, int | None]


class TokenGuess:
    """What a request will cost against a token limit, before the provider says.

    A provider reports usage only in its answer; the requests of a run repeat (every model
    gets the same probes, in both modes), so the first answer to a request of the same
    shape says what the next will cost. Before it: a quarter of the text's characters, and
    for each attached medium what the media answered so far cost (the largest), or
    MEDIUM_TOKENS before any: a run sends every medium of a model at once, so the first
    answers of one model's pictures are the best guess for the next model's recordings.
    """

    def __init__(self) -> None:
        self._seen: dict[_Shape, float] = {}
        self._per_medium: float | None = None

    @staticmethod
    def _shape(request: Request) -> _Shape:
        text = 0
        media: list[int | str | None] = []
        for message in request.messages:
            for part in message.parts:
                if isinstance(part, (TextPart, DocumentPart)):
                    text += len(part.text)
                elif isinstance(part, AttachmentPart):
                    media.append(len(part.data) if part.data is not None else part.url)
            if message.tool_result is not None:
                text += len(message.tool_result.content)
        return text, tuple(media), len(request.tools), request.max_tokens

    def expect(self, request: Request) -> float:
        shape = self._shape(request)
        seen = self._seen.get(shape)
        if seen is not None:
            return seen
        text, media, _, _ = shape
        per_medium = MEDIUM_TOKENS if self._per_medium is None else self._per_medium
        return text / 4 + per_medium * len(media)

    def learn(self, request: Request, usage: Usage) -> None:
        used = usage.input_tokens + usage.output_tokens
        if used > 0:
            shape = self._shape(request)
            self._seen[shape] = max(self._seen.get(shape, 0.0), float(used))
            text, media, _, _ = shape
            if media:
                cost = max(0.0, used - text / 4) / len(media)
                self._per_medium = cost if self._per_medium is None else max(self._per_medium, cost)
