"""What the tests share and import by name (`from support.fake_openai import FakeOpenAI`): the fake
servers, the recordings' replay, provider configs, the headless browser. No test lives here."""
