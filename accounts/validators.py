from django.core.exceptions import ValidationError


class LetterAndDigitValidator:
    """A password must contain at least one letter and one digit."""

    def validate(self, password, user=None):
        if not any(ch.isalpha() for ch in password) or not any(ch.isdigit() for ch in password):
            raise ValidationError(
                "This password must contain at least one letter and one digit.",
                code="password_letter_and_digit",
            )

    def get_help_text(self):
        return "Your password must contain at least one letter and one digit."
