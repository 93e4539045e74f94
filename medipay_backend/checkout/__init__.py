"""The patient's checkout: server-rendered pages behind the SMS link, and the payment flows."""
