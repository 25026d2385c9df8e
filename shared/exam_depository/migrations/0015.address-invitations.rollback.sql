DROP TABLE address_invitation;
