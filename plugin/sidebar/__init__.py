"""The agent's sidebar: what it shows (`view`), who may open it per platform (`auth`, `zendesk`, `links`), the
origins allowed to frame it (`frame`), and the thin routes (`routes`). Only `routes` imports Flask."""
