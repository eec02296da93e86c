-- Meta's own Business Agent answers a chat (its messages reach us on `standby`) since this time;
-- NULL: the chat is with the business (the desk, the phone, automation).
ALTER TABLE conversation ADD COLUMN agent_since INTEGER;
