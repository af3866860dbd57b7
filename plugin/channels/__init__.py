"""Survey channels: email, signature links, and the messaging channels (sms, whatsapp, chat) behind one contract.

plugin/channels/base.py is the contract; each provider is one module (twilio, vonage, whatsapp, chat) exposing
PROVIDER; configs.py keeps an account's providers; choice.py picks a ticket's channel; replies.py turns what
people send back into ratings. docs/channels.md is the admin's guide.
"""
